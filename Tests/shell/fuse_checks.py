#!/usr/bin/env python3
"""Checks on an agentfs mount that need exact errno values or concurrent handles.

Usage: fuse_checks.py CHECK MOUNT AGENT
Each check prints "ok <what>" or "FAIL <what>: <why>" lines and exits 1 on any failure.
"""
import errno
import json
import os
import sys
import threading

failures = 0


def ok(what):
    print(f"ok   {what}")


def fail(what, why):
    global failures
    failures += 1
    print(f"FAIL {what}: {why}")


def expect_errno(what, want, fn):
    """Runs fn, which must raise OSError with errno `want`."""
    try:
        fn()
    except OSError as e:
        if e.errno == want:
            ok(f"{what} -> {errno.errorcode[want]}")
        else:
            fail(what, f"got {errno.errorcode.get(e.errno, e.errno)}, want {errno.errorcode[want]}")
        return
    fail(what, f"no error, want {errno.errorcode[want]}")


def write_close(path, data, flags=os.O_WRONLY | os.O_TRUNC):
    """open, write, close: the close reports the commit's error."""
    fd = os.open(path, flags)
    try:
        os.write(fd, data)
    except OSError:
        os.close(fd)
        raise
    os.close(fd)


def read_all(path):
    with open(path, "rb") as f:
        return f.read()


def errnos(mount, agent):
    a = f"{mount}/agents/{agent}"
    expect_errno("open a missing file", errno.ENOENT, lambda: os.open(f"{a}/nothing", os.O_RDONLY))
    expect_errno("stat a missing agent", errno.ENOENT, lambda: os.stat(f"{mount}/agents/no-such-agent"))
    expect_errno("open status for writing", errno.EACCES, lambda: os.open(f"{a}/status", os.O_WRONLY | os.O_TRUNC))
    expect_errno("create a file outside goals/", errno.EACCES, lambda: os.open(f"{a}/newfile", os.O_WRONLY | os.O_CREAT, 0o644))
    expect_errno("read a directory", errno.EISDIR, lambda: os.read(os.open(f"{a}/goals", os.O_RDONLY), 10))
    expect_errno("a path under a file", errno.ENOTDIR, lambda: os.stat(f"{a}/status/x"))
    expect_errno("O_EXCL on an existing file", errno.EEXIST, lambda: os.open(f"{a}/inbox", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
    expect_errno("unknown ctl command (at write)", errno.EINVAL, lambda: write_close(f"{a}/ctl", b"explode\n"))
    before = read_all(f"{a}/config")
    expect_errno("invalid JSON to config (at close)", errno.EINVAL, lambda: write_close(f"{a}/config", b"{not json\n"))
    if read_all(f"{a}/config") == before:
        ok("config unchanged after the refused write")
    else:
        fail("config unchanged", "config changed")
    expect_errno("invalid goal (at close)", errno.EINVAL,
                 lambda: write_close(f"{a}/goals/bad.json", b"not json", os.O_WRONLY | os.O_CREAT | os.O_TRUNC))
    if "bad.json" in os.listdir(f"{a}/goals"):
        fail("refused goal not created", "bad.json exists")
    else:
        ok("refused goal not created")
    expect_errno("rm a file that cannot be removed", errno.EACCES, lambda: os.unlink(f"{a}/status"))
    expect_errno("mkdir", errno.EACCES, lambda: os.mkdir(f"{a}/newdir"))
    # A full inbox under the reject policy: the close that would overflow it says EAGAIN.
    write_close(f"{a}/config", json.dumps({"inbox": {"max_depth": 1, "overflow": "reject"}}).encode())
    write_close(f"{a}/ctl", b"pause\n")
    write_close(f"{a}/inbox", b"first\n", os.O_WRONLY | os.O_APPEND)
    expect_errno("send to a full inbox (reject)", errno.EAGAIN, lambda: write_close(f"{a}/inbox", b"second\n", os.O_WRONLY | os.O_APPEND))
    write_close(f"{a}/ctl", b"resume\n")
    write_close(f"{a}/config", json.dumps({"inbox": {"max_depth": 1000, "overflow": "dead_letter"}}).encode())


def calls(mount, agent):
    """Two handles on identity/sign at once: each reads the answer to its own write."""
    a = f"{mount}/agents/{agent}"
    pubkey = read_all(f"{a}/identity/pubkey").decode().strip()
    results = {}
    barrier = threading.Barrier(8)

    def signer(i):
        data = f"message-{i}".encode()
        fd = os.open(f"{a}/identity/sign", os.O_RDWR)
        try:
            barrier.wait()
            os.write(fd, data)
            sig = os.pread(fd, 4096, len(data)).decode().strip()
        finally:
            os.close(fd)
        results[i] = (data, sig)

    threads = [threading.Thread(target=signer, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sigs = set()
    for i, (data, sig) in sorted(results.items()):
        fd = os.open(f"{a}/identity/verify", os.O_RDWR)
        os.write(fd, json.dumps({"pubkey": pubkey, "data": data.decode(), "sig": sig}).encode())
        verdict = os.pread(fd, 100, 0).decode().strip()
        os.close(fd)
        if verdict != "true":
            fail(f"handle {i} got its own signature", f"verify said {verdict!r} for sig {sig!r}")
            return
        sigs.add(sig)
    if len(sigs) == 8:
        ok("8 concurrent handles on identity/sign each read the answer to their own write")
    else:
        fail("distinct signatures", f"{len(sigs)} distinct of 8")


def confined(mount, agent):
    """A mount made with an agent token: only that agent, under its access levels."""
    names = os.listdir(f"{mount}/agents")
    if names == [agent]:
        ok("agent-token mount lists only its agent")
    else:
        fail("agent-token mount lists only its agent", f"saw {names}")
    expect_errno("another agent's status", errno.EACCES, lambda: read_all(f"{mount}/agents/other/status"))
    expect_errno("config is read-only for an agent", errno.EACCES, lambda: os.open(f"{mount}/agents/{agent}/config", os.O_WRONLY | os.O_TRUNC))
    mode = os.stat(f"{mount}/agents/{agent}/config").st_mode & 0o777
    if mode == 0o444:
        ok("config shows mode 0444 to an agent")
    else:
        fail("config mode for an agent", oct(mode))
    # config.access made goals/ budgeted with a budget of 1: the second write is over it.
    write_close(f"{mount}/agents/{agent}/goals/g1.json", b'{"n":1}', os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    expect_errno("write past the budget", errno.EDQUOT,
                 lambda: write_close(f"{mount}/agents/{agent}/goals/g2.json", b'{"n":2}', os.O_WRONLY | os.O_CREAT | os.O_TRUNC))
    # compute/: the agent reads its policy and submits jobs; the policy is the operator's.
    policy = f"{mount}/agents/{agent}/compute/policy"
    before = read_all(policy)
    expect_errno("write compute/policy with an agent token", errno.EACCES, lambda: write_close(policy, b'{"limit":999999999}'))
    if read_all(policy) == before:
        ok("compute/policy unchanged after the refused write")
    else:
        fail("compute/policy unchanged", f"{before!r} -> {read_all(policy)!r}")
    # containers/: the same, the policy the operator's.
    policy = f"{mount}/agents/{agent}/containers/policy"
    before = read_all(policy)
    expect_errno("write containers/policy with an agent token", errno.EACCES, lambda: write_close(policy, b'{"max_sessions":1024}'))
    if read_all(policy) == before:
        ok("containers/policy unchanged after the refused write")
    else:
        fail("containers/policy unchanged", f"{before!r} -> {read_all(policy)!r}")
    mode = os.stat(policy).st_mode & 0o777
    if mode == 0o444:
        ok("containers/policy shows mode 0444 to an agent")
    else:
        fail("containers/policy mode for an agent", oct(mode))
    sessions = os.listdir(f"{mount}/agents/{agent}/containers/sessions")
    if sessions == []:
        ok("an agent token's mount lists its own (no) sessions")
    else:
        fail("an agent token's mount lists its own sessions", sessions)
    fd = os.open(f"{mount}/agents/{agent}/compute/new", os.O_RDWR)
    try:
        request = b'{"model":"fixed","prompt":"from an agent token"}'
        os.write(fd, request)
        answer = json.loads(os.pread(fd, 4096, len(request)))
    finally:
        os.close(fd)
    if str(answer.get("job_id", "")).startswith("j"):
        ok("an agent token's mount submits a job through compute/new")
    else:
        fail("compute/new with an agent token", answer)


def program(mount, agent, expected):
    """A mount made with an exec agent's own token: its program reads as the operator wrote it,
    shows 0444 (the agent may not write it) and every way of writing it is refused, changing nothing."""
    path = f"{mount}/agents/{agent}/program"
    want = read_all(expected)
    got = read_all(path)
    if got == want:
        ok("the agent reads its own program, byte for byte")
    else:
        fail("the agent reads its own program", f"{got[:80]!r}, want {want[:80]!r}")
    mode = os.stat(path).st_mode & 0o777
    if mode == 0o444:
        ok("program shows mode 0444 to its agent")
    else:
        fail("program mode for its agent", oct(mode))
    expect_errno("open program for writing with the agent's token", errno.EACCES, lambda: os.open(path, os.O_WRONLY | os.O_TRUNC))
    expect_errno("rm program with the agent's token", errno.EACCES, lambda: os.unlink(path))
    if read_all(path) == want:
        ok("program unchanged after the refused writes")
    else:
        fail("program unchanged", f"{read_all(path)[:80]!r}")
    status = json.loads(read_all(f"{mount}/agents/{agent}/status"))
    if (status.get("program") or {}).get("bytes") == len(want):
        ok("the agent's status shows its program")
    else:
        fail("the agent's status shows its program", status.get("program"))


def tree(root):
    """Every file under root, found by walking it (nothing listed by hand)."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        out += [os.path.join(dirpath, f) for f in filenames]
    return sorted(out)


def ranges(mount, agent):
    """pread at every kind of offset on every file of the agent's tree (and /runtime/status'
    length): each equals the slice of the whole file read through the same handle."""
    files = tree(f"{mount}/agents/{agent}")
    names = {os.path.relpath(f, f"{mount}/agents/{agent}") for f in files}
    for must in ["status", "ctl", "config", "state", "inbox", "outbox", "mounts", "logs/trace", "logs/trajectory",
                 "identity/pubkey", "goals/g1.json", "deadletter/count", "deadletter/list", "deadletter/ctl"]:
        if must not in names:
            fail("the walk found every file", f"missing {must} in {sorted(names)}")
    if not [n for n in names if n.startswith("deadletter/") and n.split("/")[1] not in ("count", "list", "ctl")]:
        fail("the walk found a dead letter", sorted(names))
    checked = 0
    for path in files:
        if os.stat(path).st_mode & 0o444 == 0:
            continue
        fd = os.open(path, os.O_RDONLY)
        try:
            whole = b""
            while True:
                part = os.read(fd, 1 << 16)
                if not part:
                    break
                whole += part
            n = len(whole)
            for offset in [0, 1, n // 2, max(0, n - 1), n, n + 1, 2 * n + 7, 1 << 40, (1 << 62)]:
                for count in [1, 7, max(1, n // 2), n + 1, 1 << 17]:
                    got = os.pread(fd, count, offset)
                    want = whole[offset:offset + count]
                    if got != want:
                        fail(f"pread {path} offset={offset} count={count}", f"got {got[:80]!r}, want {want[:80]!r}")
                    checked += 1
            expect_errno(f"pread {os.path.basename(path)} at a negative offset", errno.EINVAL, lambda: os.pread(fd, 10, -1))
        finally:
            os.close(fd)
    # The server is still serving.
    if json.loads(read_all(f"{mount}/agents/{agent}/status"))["id"] == agent:
        ok(f"pread at every kind of offset on {len(files)} files ({checked} reads) equals the slice of the whole file")
    else:
        fail("status after the ranges", "wrong id")


def unreachable(mount, agent):
    expect_errno("agentd is gone", errno.EIO, lambda: read_all(f"{mount}/agents/{agent}/status"))


if __name__ == "__main__":
    check, mount, agent = sys.argv[1:4]
    checks = {"errnos": errnos, "calls": calls, "confined": confined, "unreachable": unreachable, "ranges": ranges, "program": program}
    checks[check](mount, agent, *sys.argv[4:])
    sys.exit(1 if failures else 0)
