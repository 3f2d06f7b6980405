#ifndef AGENTNS_CSANDBOX_H
#define AGENTNS_CSANDBOX_H
// The syscalls Swift cannot make for the sandbox provider.
#include "ans_sandbox.h"
#endif
