import CFuse
import Foundation
import Glibc
import Namespace

/// The libfuse operations table. libfuse calls these C functions on its own worker threads;
/// each one runs its AgentFileSystem call on the Swift concurrency pool and blocks that worker
/// until the answer is in, so a slow call holds one libfuse thread and nothing else. They live
/// here, not in a main.swift, because top-level closures there would be main-actor isolated.
enum FUSEOperations {
    static func table() -> fuse_operations {
        var ops = fuse_operations()
        ops.`init` = { _, cfg in
            if let cfg {
                // Inode numbers are the stable hash of the path (FileStat.id).
                cfg.pointee.use_ino = 1
                cfg.pointee.readdir_ino = 1
                // Content is cached only where the file system's PageCache says so, open by
                // open (direct I/O otherwise); attributes and names for as long as the file
                // system's attribute timeout, and misses not at all.
                let timeout = FUSEOperations.mounted()?.fileSystem.attributeTimeout ?? 1
                cfg.pointee.attr_timeout = timeout
                cfg.pointee.entry_timeout = timeout
                cfg.pointee.negative_timeout = 0
                cfg.pointee.direct_io = 0
                cfg.pointee.kernel_cache = 0
                cfg.pointee.auto_cache = 0
                cfg.pointee.hard_remove = 1
            }
            return agentns_fuse_private_data()
        }
        ops.getattr = { path, st, fi in
            guard let path, let st, let m = FUSEOperations.mounted() else { return -EIO }
            let p = String(cString: path)
            if m.refuses(p) { return -EACCES }
            let handle = fi.map { $0.pointee.fh }
            return m.call { try await m.fileSystem.getattr(p, handle: handle) } success: { stat in
                FUSEOperations.fill(st, stat, m)
                return 0
            }
        }
        // Directories are read in offset mode, from a listing made once per open directory:
        // the first READDIR(PLUS) lists (one call into the file system), the later ones (the
        // end of the directory, a large one in parts) read what that listing said.
        ops.opendir = { path, fi in
            guard let path, let fi, let m = FUSEOperations.mounted() else { return -EIO }
            if m.refuses(String(cString: path)) { return -EACCES }
            fi.pointee.fh = m.fileSystem.openDirectory()
            return 0
        }
        ops.releasedir = { _, fi in
            guard let fi, let m = FUSEOperations.mounted() else { return -EIO }
            m.fileSystem.releaseDirectory(fi.pointee.fh)
            return 0
        }
        ops.readdir = { path, buf, filler, offset, fi, flags in
            guard let path, let filler, let m = FUSEOperations.mounted() else { return -EIO }
            let p = String(cString: path)
            if m.refuses(p) { return -EACCES }
            // READDIRPLUS: the stats of the listed directories go to the kernel with their names
            // (libfuse makes the dentries, in offset mode only), so a walk that descends (find)
            // needs no LOOKUP per directory. Not those of files: a listing does not render every
            // file, so its sizes are 0, and a kernel that took them would read status as empty
            // (SPEC: the size is never a lie); a file is looked up, and its stat is the file's.
            // A directory's stat is as fresh as a getattr's: the kernel drops one that an
            // invalidation or a newer answer overtook while the listing was made (attr_version).
            let plus = flags.rawValue & FUSE_READDIR_PLUS.rawValue != 0
            let none = fuse_fill_dir_flags(rawValue: 0)
            let dirFlags = fuse_fill_dir_flags(rawValue: plus ? FUSE_FILL_DIR_PLUS.rawValue : 0)
            let handle = fi?.pointee.fh ?? 0
            let emit: ([FileStat]) -> Int32 = { entries in
                // Offsets: "." is 1, ".." 2, entry i is i + 3; the kernel asks from the last it got.
                var st = stat()
                if offset < 1, filler(buf, ".", nil, 1, none) != 0 { return 0 }
                if offset < 2, filler(buf, "..", nil, 2, none) != 0 { return 0 }
                var i = max(0, Int(offset) - 2)
                while i < entries.count {
                    FUSEOperations.fill(&st, entries[i], m)
                    let entryFlags = entries[i].type == .dir ? dirFlags : none
                    if filler(buf, entries[i].name, &st, off_t(i + 3), entryFlags) != 0 { break }
                    i += 1
                }
                return 0
            }
            if offset > 0, let entries = m.fileSystem.listing(handle) { return emit(entries) }
            return m.call { try await m.fileSystem.list(p) } success: { entries in
                m.fileSystem.keepListing(handle, entries)
                return emit(entries)
            }
        }
        ops.open = { path, fi in
            guard let path, let fi, let m = FUSEOperations.mounted() else { return -EIO }
            let p = String(cString: path)
            if m.refuses(p) { return -EACCES }
            let flags = fi.pointee.flags
            let opened: (UInt64) -> Int32 = { handle in
                fi.pointee.fh = handle
                switch m.fileSystem.cacheMode(handle) {
                case .direct: agentns_fi_set_direct_io(fi)
                case .keep: agentns_fi_set_page_cache(fi, 1)
                case .fill: agentns_fi_set_page_cache(fi, 0)
                }
                // A read-only handle has nothing to commit: spare close(2) the FLUSH round trip.
                if m.fileSystem.isReadOnly(handle) { agentns_fi_set_noflush(fi) }
                return 0
            }
            do {
                if let handle = try m.fileSystem.openCached(p, flags: flags) { return opened(handle) }
            } catch {
                return FUSEMount.errno(error)
            }
            return m.call({ try await m.fileSystem.open(p, flags: flags) }, success: opened)
        }
        ops.create = { path, _, fi in
            guard let path, let fi, let m = FUSEOperations.mounted() else { return -EIO }
            let p = String(cString: path)
            if m.refuses(p) { return -EACCES }
            let flags = fi.pointee.flags
            return m.call { try await m.fileSystem.create(p, flags: flags) } success: { handle in
                fi.pointee.fh = handle
                agentns_fi_set_direct_io(fi)
                return 0
            }
        }
        ops.read = { _, buf, size, offset, fi in
            guard let buf, let fi, let m = FUSEOperations.mounted() else { return -EIO }
            let handle = fi.pointee.fh
            return m.call { try await m.fileSystem.read(handle, offset: Int64(offset), count: size) } success: { data in
                let n = min(data.count, size)
                data.withUnsafeBytes { raw in
                    if let base = raw.baseAddress { buf.withMemoryRebound(to: UInt8.self, capacity: n) { $0.update(from: base.assumingMemoryBound(to: UInt8.self), count: n) } }
                }
                return Int32(n)
            }
        }
        ops.write = { _, buf, size, _, fi in
            guard let buf, let fi, let m = FUSEOperations.mounted() else { return -EIO }
            let handle = fi.pointee.fh
            let data = Data(bytes: buf, count: size)
            return m.call { try await m.fileSystem.write(handle, data) } success: { Int32($0) }
        }
        ops.flush = { _, fi in
            guard let fi, let m = FUSEOperations.mounted() else { return -EIO }
            let handle = fi.pointee.fh
            if m.fileSystem.isReadOnly(handle) { return 0 }
            return m.call { try await m.fileSystem.flush(handle) } success: { 0 }
        }
        ops.release = { _, fi in
            guard let fi, let m = FUSEOperations.mounted() else { return -EIO }
            let handle = fi.pointee.fh
            if m.fileSystem.isReadOnly(handle) {
                m.fileSystem.releaseReadOnly(handle)
                return 0
            }
            return m.call { try await m.fileSystem.release(handle) } success: { 0 }
        }
        ops.fsync = { _, _, fi in
            guard let fi, let m = FUSEOperations.mounted() else { return -EIO }
            let handle = fi.pointee.fh
            return m.call { try await m.fileSystem.flush(handle) } success: { 0 }
        }
        ops.truncate = { path, size, fi in
            guard let path, let m = FUSEOperations.mounted() else { return -EIO }
            let p = String(cString: path)
            if m.refuses(p) { return -EACCES }
            let handle = fi.map { $0.pointee.fh }
            return m.call { try await m.fileSystem.truncate(p, size: Int64(size), handle: handle) } success: { 0 }
        }
        ops.unlink = { path in
            guard let path, let m = FUSEOperations.mounted() else { return -EIO }
            let p = String(cString: path)
            if m.refuses(p) { return -EACCES }
            return m.call { try await m.fileSystem.unlink(p) } success: { 0 }
        }
        ops.utimens = { _, _, _ in 0 }  // times are the service's; touching an existing file is harmless
        ops.mkdir = { _, _ in -EACCES }
        // A directory the service lets go (a session's files/ subdirectory) is removed like a file;
        // everywhere else the namespace refuses it (EACCES).
        ops.rmdir = { path in
            guard let path, let m = FUSEOperations.mounted() else { return -EIO }
            let p = String(cString: path)
            if m.refuses(p) { return -EACCES }
            return m.call { try await m.fileSystem.unlink(p) } success: { 0 }
        }
        ops.rename = { _, _, _ in -EACCES }
        ops.link = { _, _ in -EACCES }
        ops.symlink = { _, _ in -EACCES }
        ops.mknod = { _, _, _ in -EACCES }
        ops.chmod = { _, _, _ in -EPERM }
        ops.chown = { _, _, _, _ in -EPERM }
        ops.statfs = { _, st in
            guard let st else { return -EIO }
            st.pointee = statvfs()
            st.pointee.f_bsize = 4096
            st.pointee.f_frsize = 4096
            st.pointee.f_namemax = 255
            return 0
        }
        return ops
    }

    static func mounted() -> FUSEMount? {
        guard let raw = agentns_fuse_private_data() else { return nil }
        return Unmanaged<FUSEMount>.fromOpaque(raw).takeUnretainedValue()
    }

    static func fill(_ st: UnsafeMutablePointer<stat>, _ s: FileStat, _ m: FUSEMount) {
        st.pointee = stat()
        st.pointee.st_ino = UInt(s.id)
        st.pointee.st_mode = (s.type == .dir ? 0o040000 : 0o100000) | (s.mode & m.modeMask)
        st.pointee.st_nlink = s.type == .dir ? 2 : 1
        st.pointee.st_size = Int(s.size)
        st.pointee.st_uid = m.uid
        st.pointee.st_gid = m.gid
        st.pointee.st_blksize = 4096
        st.pointee.st_blocks = (Int(s.size) + 511) / 512
        let mtime = s.mtime > 0 ? s.mtime : m.mountedAt
        let ts = timespec(tv_sec: Int(mtime / 1000), tv_nsec: Int(mtime % 1000) * 1_000_000)
        st.pointee.st_mtim = ts
        st.pointee.st_ctim = ts
        st.pointee.st_atim = ts
    }
}
