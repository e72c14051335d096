// The daemon's side of the native layer: start a job's supervisor, and watch
// and signal processes through pidfds. Everything that runs between fork and
// exec is posix_spawn's own (async-signal-safe); the supervisor is a separate
// single-threaded executable, so nothing of Node's threads is ever forked.
#include <errno.h>
#include <fcntl.h>
#include <napi.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <thread>

namespace {

Napi::Value ThrowErrno(Napi::Env env, const std::string& what, int err) {
  Napi::Error e = Napi::Error::New(env, what + ": " + strerror(err));
  e.Set("errno", Napi::Number::New(env, err));
  e.ThrowAsJavaScriptException();
  return env.Undefined();
}

void CloseBoth(int fds[2]) {
  if (fds[0] >= 0) close(fds[0]);
  if (fds[1] >= 0) close(fds[1]);
}

// Creating a network namespace is the dearest part of starting a job (about
// half a millisecond, most of a clone). A background thread makes a few ahead
// of time, with lo up, so a job joins a fresh one instead of waiting for it.
// Each namespace goes to exactly one job; the pool only moves the cost off the
// job's critical path, it never shares or reuses a namespace.
class NetnsPool {
 public:
  static NetnsPool& Get() {
    static NetnsPool* pool = new NetnsPool();  // never destroyed: the thread may outlive static destructors
    return *pool;
  }

  // A fresh namespace fd (close-on-exec), or -1 when none is ready yet.
  int Take() {
    std::lock_guard<std::mutex> lock(mu_);
    if (!started_) {
      started_ = true;
      std::thread([this] { Fill(); }).detach();
    }
    if (ready_.empty()) return -1;
    int fd = ready_.front();
    ready_.pop_front();
    wanted_.notify_one();
    return fd;
  }

 private:
  static constexpr size_t kTarget = 2;

  void Fill() {
    int host = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    for (;;) {
      {
        std::unique_lock<std::mutex> lock(mu_);
        wanted_.wait(lock, [this] { return ready_.size() < kTarget; });
      }
      int fd = host < 0 ? -1 : MakeOne(host);
      if (fd < 0) return;  // not permitted here: every job clones its own namespace
      std::lock_guard<std::mutex> lock(mu_);
      ready_.push_back(fd);
    }
  }

  // unshare(CLONE_NEWNET) moves only this thread, so the rest of the process
  // never leaves the host's namespace; the thread goes back before returning.
  static int MakeOne(int host) {
    if (unshare(CLONE_NEWNET) < 0) return -1;
    int fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strcpy(ifr.ifr_name, "lo");
    bool up = sock >= 0 && ioctl(sock, SIOCGIFFLAGS, &ifr) == 0 &&
              (ifr.ifr_flags |= IFF_UP | IFF_RUNNING, ioctl(sock, SIOCSIFFLAGS, &ifr) == 0);
    if (sock >= 0) close(sock);
    bool back = setns(host, CLONE_NEWNET) == 0;
    if (!back) abort();  // a thread stuck in a job's namespace would be a silent isolation bug
    if (!up && fd >= 0) {
      close(fd);
      return -1;
    }
    return fd;
  }

  std::mutex mu_;
  std::condition_variable wanted_;
  std::deque<int> ready_;
  bool started_ = false;
};

// takeNetns() -> fd of a fresh network namespace with lo up, or -1.
Napi::Value TakeNetns(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), NetnsPool::Get().Take());
}

// spawnSupervisor(exe, spec: Buffer, title, netnsFd) -> {pid, pidfd, readyFd}
// netnsFd (or -1) becomes the supervisor's fd 5 and is closed here.
// The spec is written into a pipe before the spawn (the pipe is sized to hold
// it), so the supervisor reads it to EOF with nothing to wait for.
Napi::Value SpawnSupervisor(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string exe = info[0].As<Napi::String>();
  Napi::Buffer<char> spec = info[1].As<Napi::Buffer<char>>();
  std::string title = info[2].As<Napi::String>();
  // Ours to close on every path: after the spawn the supervisor holds its own copy.
  struct OwnedFd {
    int fd;
    ~OwnedFd() {
      if (fd >= 0) close(fd);
    }
  } netns{info[3].As<Napi::Number>().Int32Value()};

  int spec_pipe[2] = {-1, -1}, ready_pipe[2] = {-1, -1};
  if (pipe2(spec_pipe, O_CLOEXEC) < 0) return ThrowErrno(env, "Cannot create the spec pipe", errno);
  if (pipe2(ready_pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
    CloseBoth(spec_pipe);
    return ThrowErrno(env, "Cannot create the ready pipe", errno);
  }
  size_t need = spec.Length() < 65536 ? 65536 : spec.Length();
  if (spec.Length() > 65536 && fcntl(spec_pipe[1], F_SETPIPE_SZ, (int)need) < 0) {
    int err = errno;
    CloseBoth(spec_pipe);
    CloseBoth(ready_pipe);
    return ThrowErrno(env, "Job spec too large for a pipe", err);
  }
  const char* p = spec.Data();
  size_t left = spec.Length();
  while (left > 0) {
    ssize_t n = write(spec_pipe[1], p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      CloseBoth(spec_pipe);
      CloseBoth(ready_pipe);
      return ThrowErrno(env, "Cannot write the job spec", err);
    }
    p += n;
    left -= (size_t)n;
  }
  close(spec_pipe[1]);
  spec_pipe[1] = -1;
  // The ready channel is non-blocking only on our side.
  int flags = fcntl(ready_pipe[1], F_GETFL);
  fcntl(ready_pipe[1], F_SETFL, flags & ~O_NONBLOCK);

  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&actions);
  posix_spawnattr_init(&attr);
  // The supervisor says everything through fd 4 and its records; creating a
  // log file of its own would cost every spawn a file creation.
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  posix_spawn_file_actions_adddup2(&actions, spec_pipe[0], 3);
  posix_spawn_file_actions_adddup2(&actions, ready_pipe[1], 4);
  if (netns.fd >= 0) posix_spawn_file_actions_adddup2(&actions, netns.fd, 5);
  // Own session: a terminal's ^C to the daemon must not reach jobs. Default
  // dispositions and an empty mask: Node ignores SIGPIPE, the job must not.
  sigset_t all, none;
  sigfillset(&all);
  sigemptyset(&none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);

  char* argv[] = {const_cast<char*>(title.c_str()), nullptr};
  char* envp[] = {nullptr};
  pid_t pid = -1;
  int rc = posix_spawn(&pid, exe.c_str(), &actions, &attr, argv, envp);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  close(spec_pipe[0]);
  close(ready_pipe[1]);
  if (rc != 0) {
    close(ready_pipe[0]);
    return ThrowErrno(env, "Cannot start the supervisor " + exe, rc);
  }
  int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
  if (pidfd < 0) {
    int err = errno;
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    close(ready_pipe[0]);
    return ThrowErrno(env, "Cannot open a pidfd for the supervisor", err);
  }
  Napi::Object result = Napi::Object::New(env);
  result.Set("pid", Napi::Number::New(env, pid));
  result.Set("pidfd", Napi::Number::New(env, pidfd));
  result.Set("readyFd", Napi::Number::New(env, ready_pipe[0]));
  return result;
}

// pidfdOpen(pid) -> fd; throws with errno ESRCH when the process is gone.
Napi::Value PidfdOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int pid = info[0].As<Napi::Number>().Int32Value();
  int fd = (int)syscall(SYS_pidfd_open, pid, 0);
  if (fd < 0) return ThrowErrno(env, "Cannot open a pidfd for process " + std::to_string(pid), errno);
  return Napi::Number::New(env, fd);
}

// pidfdSendSignal(pidfd, signo) -> true, or false when the process has exited.
Napi::Value PidfdSendSignal(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = info[0].As<Napi::Number>().Int32Value();
  int sig = info[1].As<Napi::Number>().Int32Value();
  if (syscall(SYS_pidfd_send_signal, fd, sig, nullptr, 0) == 0) return Napi::Boolean::New(env, true);
  if (errno == ESRCH) return Napi::Boolean::New(env, false);
  return ThrowErrno(env, "Cannot send signal " + std::to_string(sig), errno);
}

// reap(pidfd): collect the exit of our own child so it leaves no zombie.
// A process we did not start (attached after a restart) is not ours to reap.
Napi::Value Reap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = info[0].As<Napi::Number>().Int32Value();
  siginfo_t si;
  memset(&si, 0, sizeof si);
  int r = waitid((idtype_t)P_PIDFD, (id_t)fd, &si, WEXITED | WNOHANG);
  return Napi::Boolean::New(env, r == 0 && si.si_pid != 0);
}

// watchReadable(fd, callback) -> {close()}: calls back once, on the event loop,
// when fd becomes readable (a pidfd: when its process exits).
class ReadableWatch : public Napi::ObjectWrap<ReadableWatch> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "ReadableWatch", {InstanceMethod("close", &ReadableWatch::Close)});
  }

  explicit ReadableWatch(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ReadableWatch>(info) {
    Napi::Env env = info.Env();
    int fd = info[0].As<Napi::Number>().Int32Value();
    callback_ = Napi::Persistent(info[1].As<Napi::Function>());
    uv_loop_t* loop = nullptr;
    napi_get_uv_event_loop(env, &loop);
    poll_ = new uv_poll_t;
    poll_->data = this;
    int rc = uv_poll_init(loop, poll_, fd);
    if (rc == 0) rc = uv_poll_start(poll_, UV_READABLE | UV_DISCONNECT, OnReadable);
    if (rc != 0) {
      delete poll_;
      poll_ = nullptr;
      Napi::Error::New(env, std::string("Cannot watch fd: ") + uv_strerror(rc)).ThrowAsJavaScriptException();
      return;
    }
    // Keep the JS object alive while the watch is armed.
    Ref();
  }

  // Armed watches hold a reference, so by the time this runs Stop() has run.
  ~ReadableWatch() override = default;

 private:
  static void OnReadable(uv_poll_t* handle, int, int) {
    auto* self = static_cast<ReadableWatch*>(handle->data);
    Napi::Env env = self->Env();
    Napi::HandleScope scope(env);
    Napi::FunctionReference callback = std::move(self->callback_);
    self->Stop();
    if (!callback.IsEmpty()) callback.Call({});
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    Stop();
    return info.Env().Undefined();
  }

  void Stop() {
    if (!poll_) return;
    uv_poll_stop(poll_);
    uv_close(reinterpret_cast<uv_handle_t*>(poll_), [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
    poll_ = nullptr;
    Unref();
  }

  uv_poll_t* poll_ = nullptr;
  Napi::FunctionReference callback_;
};

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("spawnSupervisor", Napi::Function::New(env, SpawnSupervisor));
  exports.Set("takeNetns", Napi::Function::New(env, TakeNetns));
  exports.Set("pidfdOpen", Napi::Function::New(env, PidfdOpen));
  exports.Set("pidfdSendSignal", Napi::Function::New(env, PidfdSendSignal));
  exports.Set("reap", Napi::Function::New(env, Reap));
  exports.Set("ReadableWatch", ReadableWatch::Define(env));
  return exports;
}

}  // namespace

NODE_API_MODULE(joblet, Init)
