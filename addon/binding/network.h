// The JavaScript face of netlink.h: netEnsureBridge, netDeleteLink(Async),
// netListLinks, netCreateVeth.
#ifndef JOBLET_NETWORK_H
#define JOBLET_NETWORK_H

#include <napi.h>

void ExportNetworkFunctions(Napi::Env env, Napi::Object exports);

#endif
