import Foundation
import Glibc

/// The data directory holds every agent's private key (in the database) and the operator
/// token, so nobody but agentd's user may read it. Modes are set when things are created
/// (never left to the umask), and an existing directory or file that others can read is
/// tightened, or refused with what to do when it cannot be.
enum DataDirectory {
    /// Creates `path` (0700) or tightens an existing one; makes files agentd creates later
    /// (the database, its WAL and shared-memory files) private by the process umask.
    static func prepare(_ path: String, report: (String) -> Void) throws {
        umask(0o077)
        var st = stat()
        if stat(path, &st) != 0 {
            guard errno == ENOENT else { throw StartError("cannot use the data directory \(path): \(String(cString: strerror(errno)))") }
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            guard stat(path, &st) == 0 else { throw StartError("cannot create the data directory \(path): \(String(cString: strerror(errno)))") }
        }
        guard st.st_mode & S_IFMT == S_IFDIR else {
            throw StartError("the data directory \(path) is not a directory; give --data a directory")
        }
        try tighten(path, st, mode: 0o700, what: "data directory", report: report)
        for name in ["agentd.sqlite", "agentd.sqlite-wal", "agentd.sqlite-shm", "agentd.lock", "token"] {
            let file = path + "/" + name
            guard lstat(file, &st) == 0 else { continue }
            // A link (or anything but a file) here could send the database or the token elsewhere.
            guard st.st_mode & S_IFMT == S_IFREG else {
                throw StartError("\(file) is not a regular file (a symbolic link?); remove it, or use another --data directory")
            }
            try tighten(file, st, mode: 0o600, what: "file", report: report)
        }
    }

    /// Removes group and other permissions from `path` (as `st` describes it), refusing a path
    /// that another user owns, whatever its mode: that user could have put a token or a
    /// database there (also when agentd runs as root).
    static func tighten(_ path: String, _ st: stat, mode: mode_t, what: String, report: (String) -> Void) throws {
        guard st.st_uid == geteuid() else {
            throw StartError("the \(what) \(path) belongs to uid \(st.st_uid), not to agentd's user (uid \(geteuid())): another user could "
                + "have put a token or a database there; use a data directory agentd's user owns, or 'chown -R \(geteuid()) \(path)' "
                + "if you trust what is in it")
        }
        guard st.st_mode & 0o077 != 0 else { return }
        guard chmod(path, (st.st_mode & 0o700) | (mode & 0o700)) == 0 else {
            throw StartError("the \(what) \(path) is readable by other users and 'chmod go-rwx' failed: \(String(cString: strerror(errno)))")
        }
        report("tightened \(path) to mode \(String((st.st_mode & 0o700) | (mode & 0o700), radix: 8)) (it was readable by other users)")
    }

    /// Writes a new secret file: created exclusively with mode 0600 before a byte is written,
    /// and synced, so no moment exists where it is readable by others or half written.
    static func createSecret(_ path: String, _ contents: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { throw StartError("cannot create \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let bytes = Array(contents.utf8)
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard written == bytes.count, fsync(fd) == 0 else {
            let why = String(cString: strerror(errno))
            unlink(path)
            throw StartError("cannot write \(path): \(why)")
        }
    }
}
