// Argument checks and errors for the netlink operations; all of them act in
// the network namespace of the calling (event-loop) thread, the daemon's.
#include "network.h"

#include <string.h>
#include <uv.h>

#include <string>
#include <thread>
#include <vector>

#include "netlink.h"

namespace {

// "Cannot <what>: <strerror>", with errno and code ("EEXIST") for callers that branch on them.
Napi::Error NetError(Napi::Env env, int err, const std::string& what) {
  Napi::Error e = Napi::Error::New(env, "Cannot " + what + ": " + strerror(-err));
  e.Set("errno", Napi::Number::New(env, -err));
  e.Set("code", Napi::String::New(env, uv_err_name(err)));
  return e;
}

Napi::Value Throw(Napi::Env env, int err, const std::string& what) {
  NetError(env, err, what).ThrowAsJavaScriptException();
  return env.Undefined();
}

bool Expect(const Napi::CallbackInfo& info, const char* signature, bool ok) {
  if (!ok) Napi::TypeError::New(info.Env(), std::string("Expected ") + signature).ThrowAsJavaScriptException();
  return ok;
}

// An interface name the kernel accepts: 1..15 bytes, no '/', ':' or space.
bool IsInterfaceName(const Napi::Value& v) {
  if (!v.IsString()) return false;
  std::string name = v.As<Napi::String>();
  return !name.empty() && name.size() < 16 && name.find_first_of("/: \t\n") == std::string::npos;
}

// netEnsureBridge(name, address, prefix)
Napi::Value NetEnsureBridge(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!Expect(info, "netEnsureBridge(name: string, address: string, prefix: number)",
              IsInterfaceName(info[0]) && info[1].IsString() && info[2].IsNumber()))
    return env.Undefined();
  std::string what;
  int err = rtnl::EnsureBridge(info[0].As<Napi::String>(), info[1].As<Napi::String>(), info[2].As<Napi::Number>().Int32Value(), &what);
  return err < 0 ? Throw(env, err, what) : env.Undefined();
}

// netDeleteLink(name) -> false when there was no such link
Napi::Value NetDeleteLink(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!Expect(info, "netDeleteLink(name: string)", IsInterfaceName(info[0]))) return env.Undefined();
  std::string what;
  int r = rtnl::DeleteLink(info[0].As<Napi::String>(), &what);
  return r < 0 ? Throw(env, r, what) : Napi::Boolean::New(env, r == 1);
}

// netDeleteLinkAsync(name) -> Promise<boolean>: the same off the event loop.
// Removing a link waits for RCU grace periods (about 20 ms). Each removal
// gets a thread of its own rather than one of libuv's four workers: jobs
// ending together would otherwise hold up the daemon's file operations, and
// removals that run at once share their grace periods. A thread made here
// shares the process's network namespace.
struct Deletion {
  std::string name;
  std::string what;
  int result = 0;
  Napi::Promise::Deferred deferred;
  Napi::ThreadSafeFunction done;
};

Napi::Value NetDeleteLinkAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!Expect(info, "netDeleteLinkAsync(name: string)", IsInterfaceName(info[0]))) return env.Undefined();
  auto* job = new Deletion{info[0].As<Napi::String>(), "", 0, Napi::Promise::Deferred::New(env), {}};
  Napi::Promise promise = job->deferred.Promise();
  // Holds the event loop open until the answer is delivered.
  job->done = Napi::ThreadSafeFunction::New(env, Napi::Function(), "netDeleteLinkAsync", 0, 1);
  std::thread([job] {
    job->result = rtnl::DeleteLink(job->name, &job->what);
    Napi::ThreadSafeFunction done = job->done;  // job is freed on the event loop, maybe before Release()
    done.BlockingCall(job, [](Napi::Env env, Napi::Function, Deletion* job) {
      if (job->result < 0) job->deferred.Reject(NetError(env, job->result, job->what).Value());
      else job->deferred.Resolve(Napi::Boolean::New(env, job->result == 1));
      delete job;
    });
    done.Release();
  }).detach();
  return promise;
}

// netListLinks() -> [{name, index, kind?, master?}]
Napi::Value NetListLinks(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::vector<rtnl::Link> links;
  std::string what;
  int err = rtnl::ListLinks(&links, &what);
  if (err < 0) return Throw(env, err, what);
  Napi::Array result = Napi::Array::New(env, links.size());
  for (size_t i = 0; i < links.size(); i++) {
    Napi::Object link = Napi::Object::New(env);
    link.Set("name", links[i].name);
    link.Set("index", links[i].index);
    if (!links[i].kind.empty()) link.Set("kind", links[i].kind);
    if (!links[i].master.empty()) link.Set("master", links[i].master);
    result.Set(i, link);
  }
  return result;
}

// netCreateVeth(netnsFd, {hostInterface, bridge?, hostAddress?, prefix})
Napi::Value NetCreateVeth(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* signature = "netCreateVeth(netnsFd: number, {hostInterface: string, bridge?: string, hostAddress?: string, prefix: number})";
  if (!Expect(info, signature, info[0].IsNumber() && info[1].IsObject())) return env.Undefined();
  Napi::Object options = info[1].As<Napi::Object>();
  Napi::Value bridge = options.Get("bridge");
  Napi::Value address = options.Get("hostAddress");
  bool has_bridge = !bridge.IsUndefined() && !bridge.IsNull();
  if (!Expect(info, signature,
              IsInterfaceName(options.Get("hostInterface")) && options.Get("prefix").IsNumber() &&
                  (has_bridge ? IsInterfaceName(bridge) : address.IsString())))
    return env.Undefined();
  rtnl::VethRequest request;
  request.netns_fd = info[0].As<Napi::Number>().Int32Value();
  request.host_name = options.Get("hostInterface").As<Napi::String>();
  request.prefix = options.Get("prefix").As<Napi::Number>().Int32Value();
  if (has_bridge) request.bridge = bridge.As<Napi::String>();
  else request.host_address = address.As<Napi::String>();
  std::string what;
  int err = rtnl::CreateVeth(request, &what);
  return err < 0 ? Throw(env, err, what) : env.Undefined();
}

}  // namespace

void ExportNetworkFunctions(Napi::Env env, Napi::Object exports) {
  exports.Set("netEnsureBridge", Napi::Function::New(env, NetEnsureBridge));
  exports.Set("netDeleteLink", Napi::Function::New(env, NetDeleteLink));
  exports.Set("netDeleteLinkAsync", Napi::Function::New(env, NetDeleteLinkAsync));
  exports.Set("netListLinks", Napi::Function::New(env, NetListLinks));
  exports.Set("netCreateVeth", Napi::Function::New(env, NetCreateVeth));
}
