"""Loaded into gdb by scripts/killat-pkcs11 (see there). It puts a
breakpoint on every mutating PKCS#11 function of the module, counts their
calls over the whole process, and SIGKILLs the process at the Nth: on its
entry (KILLAT_WHEN=before: the call never reaches the token), on its
return (after: the token acted, the caller never learns the result), or
inside it (during, with KILLAT_M=M: on the Mth file-system call the
module makes within the call, so the token's store is left as the module
had it half-way).
"""
import os
import signal
import sys

import gdb

N = int(os.environ["KILLAT_N"])
WHEN = os.environ["KILLAT_WHEN"]
LOG = os.environ.get("KILLAT_LOG")
# The calls that change what a token holds, let a key out (C_WrapKey) or
# change who may act (C_Login, C_Logout): hsm/hsmtest.Mutating.
MUTATING = ["C_InitToken", "C_InitPIN", "C_CreateObject", "C_CopyObject", "C_DestroyObject",
            "C_SetAttributeValue", "C_GenerateKey", "C_GenerateKeyPair", "C_WrapKey",
            "C_UnwrapKey", "C_Login", "C_Logout"]
# The C library's calls that change files, which a module's store goes
# through (SoftHSM: fopen, fwrite/fflush → write, ftruncate, remove,
# mkdir). One name per function: on x86_64 open and open64 (ftruncate and
# ftruncate64) are one function, and two breakpoints there would count it
# twice. fcntl (SoftHSM's locks) changes no file. Go's own system calls do
# not go through the C library, so only the module's (and cgo's) are seen.
FILE_CALLS = ["write", "open64", "openat64", "ftruncate64", "unlink", "remove", "rename",
              "mkdir", "rmdir", "fsync"]
M = int(os.environ.get("KILLAT_M", "0"))
state = {"count": 0, "killed": None, "status": None, "inside": False, "files": 0}


def kill(what):
    state["killed"] = what
    os.kill(gdb.selected_inferior().pid, signal.SIGKILL)


class Return(gdb.FinishBreakpoint):
    def __init__(self, frame, what):
        super().__init__(frame, internal=True)
        self.what = what

    def stop(self):
        if WHEN == "after":
            kill(self.what)
        else:  # during: the call ended before its Mth file call
            state["inside"] = False
            for b in FILE_BPS:
                b.enabled = False
            state["short"] = "call %d made %d file calls" % (N, state["files"])
        return False

    def out_of_scope(self):
        pass


class Entry(gdb.Breakpoint):
    def __init__(self, name):
        super().__init__(name, internal=True)
        self.name = name

    def stop(self):
        if state["killed"] is not None:
            return False
        state["count"] += 1
        if state["count"] == N:
            what = "%s %s (mutating call %d)" % (WHEN, self.name, N)
            if WHEN == "before":
                kill(what)
            else:
                if WHEN == "during":
                    state["inside"] = True
                    state["name"] = self.name
                    for b in FILE_BPS:
                        b.enabled = True
                Return(gdb.newest_frame(), what)
        return False


class FileCall(gdb.Breakpoint):
    def __init__(self, name):
        super().__init__(name, internal=True)
        self.name = name

    def stop(self):
        if not state["inside"] or state["killed"] is not None:
            return False
        state["files"] += 1
        if state["files"] == M:
            kill("during %s (mutating call %d), at its file call %d (%s)" % (state["name"], N, M, self.name))
        return False


def exited(ev):
    state["status"] = getattr(ev, "exit_code", None)


def finish():
    if LOG:
        with open(LOG, "w") as f:
            if state["killed"]:
                f.write("killed %s\n" % state["killed"])
            elif state.get("short"):
                f.write("%s; completed after %d mutating calls\n" % (state["short"], state["count"]))
            else:
                f.write("completed after %d mutating calls\n" % state["count"])
    if state["killed"]:
        code = 137
    elif state["status"] is None:
        code = 1
    else:
        code = state["status"]
    # Not gdb's quit: after a kill from a breakpoint gdb may fail to
    # read the dead thread's registers and exit 1 instead.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


gdb.execute("set breakpoint pending on")
gdb.events.exited.connect(exited)
for f in MUTATING:
    Entry(f)
# Enabled only inside the Nth call: every stop of a many-threaded Go
# process costs milliseconds.
FILE_BPS = []
if WHEN == "during":
    for f in FILE_CALLS:
        b = FileCall(f)
        b.enabled = False
        FILE_BPS.append(b)
