// The daemon's side of the native layer: start a job's supervisor through the
// fork server, and watch and signal processes through pidfds. Node itself only
// ever starts the fork server, with posix_spawn (async-signal-safe between
// fork and exec); supervisors are forked from that small single-threaded
// program, so nothing of Node's threads is ever forked.
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
#include <vector>

#include "network.h"

namespace {

Napi::Value ThrowErrno(Napi::Env env, const std::string& what, int err) {
  Napi::Error e = Napi::Error::New(env, what + ": " + strerror(err));
  e.Set("errno", Napi::Number::New(env, err));
  e.ThrowAsJavaScriptException();
  return env.Undefined();
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

  // A namespace made now, for a job that needs its fd before it starts (its
  // network is wired up from here) when the pool has none ready. Made on a
  // thread of its own, joined: the event-loop thread never leaves the host's
  // namespace. The fd, or -errno.
  static int MakeNow() {
    int result = -EIO;
    std::thread([&result] {
      int host = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
      result = host < 0 ? -errno : MakeOne(host);
      if (host >= 0) close(host);
    }).join();
    return result;
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
  // The fd, or -errno.
  static int MakeOne(int host) {
    if (unshare(CLONE_NEWNET) < 0) return -errno;
    int fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    int err = fd < 0 ? errno : 0;
    int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strcpy(ifr.ifr_name, "lo");
    bool up = sock >= 0 && ioctl(sock, SIOCGIFFLAGS, &ifr) == 0 &&
              (ifr.ifr_flags |= IFF_UP | IFF_RUNNING, ioctl(sock, SIOCSIFFLAGS, &ifr) == 0);
    if (!up && !err) err = errno;
    if (sock >= 0) close(sock);
    bool back = setns(host, CLONE_NEWNET) == 0;
    if (!back) abort();  // a thread stuck in a job's namespace would be a silent isolation bug
    if (err) {
      if (fd >= 0) close(fd);
      return -err;
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

// makeNetns() -> fd of a network namespace made now, lo up; throws when not permitted.
Napi::Value MakeNetns(const Napi::CallbackInfo& info) {
  int fd = NetnsPool::MakeNow();
  if (fd < 0) return ThrowErrno(info.Env(), "Cannot create a network namespace", -fd);
  return Napi::Number::New(info.Env(), fd);
}

// The fork server: a resident copy of joblet-supervisor that forks one
// supervisor per job (addon/supervisor/forkserver.c). Started on first use,
// restarted if it has gone away. Only the event-loop thread talks to it, one
// request and one reply at a time.
class ForkServer {
 public:
  static ForkServer& Get() {
    static ForkServer* server = new ForkServer();
    return *server;
  }

  // Ask for a supervisor with fds (spec, channel[, netns]); the reply is
  // collected by Receive(), so the caller can work while the fork happens.
  bool Send(const std::string& exe, const std::vector<std::string>& cgroups, const std::string& title, const int* fds,
            int nfds, std::string* error) {
    for (int attempt = 0; attempt < 2; attempt++) {
      if (sock_ < 0 && !Start(exe, cgroups, error)) return false;
      int err = SendRequest(title, fds, nfds);
      if (err == 0) return true;
      if (err != EPIPE && err != ECONNRESET && err != ENOTCONN) {
        *error = std::string("Cannot reach the fork server: ") + strerror(err);
        return false;
      }
      Stop();  // it died: start a new one and ask again, once
    }
    *error = "the fork server died twice in a row (last exit status " + std::to_string(last_status_) +
             "; 2 means it could not enter its cgroups)";
    return false;
  }

  // The reply to the last Send(): the supervisor's pid and a pidfd, or -1.
  pid_t Receive(int* pidfd, std::string* error) {
    int err = 0;
    pid_t pid = ReceiveReply(pidfd, &err);
    if (pid > 0) return pid;
    if (err == ECONNRESET) Stop();
    *error = std::string("the fork server could not fork a supervisor: ") + strerror(err);
    return -1;
  }

 private:
  bool Start(const std::string& exe, const std::vector<std::string>& cgroups, std::string* error) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
      *error = std::string("Cannot create the fork server's socket: ") + strerror(errno);
      return false;
    }
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init(&actions);
    posix_spawnattr_init(&attr);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    posix_spawn_file_actions_adddup2(&actions, sv[1], 3);
    // Own session, default dispositions, empty mask: Node ignores SIGPIPE and
    // a terminal's ^C to the daemon must not reach jobs.
    sigset_t all, none;
    sigfillset(&all);
    sigemptyset(&none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
    // The cgroups to live in, then room for each supervisor's title ("joblet-supervisor ID").
    std::string room(96, ' ');
    std::vector<char*> argv = {const_cast<char*>("joblet-supervisor"), const_cast<char*>("--fork-server")};
    for (const std::string& dir : cgroups) argv.push_back(const_cast<char*>(dir.c_str()));
    argv.push_back(room.data());
    argv.push_back(nullptr);
    char* envp[] = {nullptr};
    pid_t pid;
    int rc = posix_spawn(&pid, exe.c_str(), &actions, &attr, argv.data(), envp);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    close(sv[1]);
    if (rc != 0) {
      close(sv[0]);
      *error = "Cannot start the fork server " + exe + ": " + strerror(rc);
      return false;
    }
    sock_ = sv[0];
    pid_ = pid;
    return true;
  }

  void Stop() {
    if (sock_ >= 0) close(sock_);
    sock_ = -1;
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      int status = 0;
      waitpid(pid_, &status, 0);  // our own child: reap it by its pid
      last_status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    pid_ = -1;
  }

  int SendRequest(const std::string& title, const int* fds, int nfds) {
    struct iovec iov = {const_cast<char*>(title.data()), title.size()};
    union {
      char buf[CMSG_SPACE(3 * sizeof(int))];
      struct cmsghdr align;
    } control;
    memset(&control, 0, sizeof control);
    struct msghdr msg = {};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.buf;
    msg.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
    struct cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(nfds * sizeof(int));
    memcpy(CMSG_DATA(cmsg), fds, nfds * sizeof(int));
    ssize_t n;
    do n = sendmsg(sock_, &msg, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    return n < 0 ? errno : 0;
  }

  pid_t ReceiveReply(int* pidfd, int* err) {
    ssize_t n;
    int32_t data[2] = {-1, 0};
    struct iovec riov = {data, sizeof data};
    union {
      char buf[CMSG_SPACE(sizeof(int))];
      struct cmsghdr align;
    } rcontrol;
    struct msghdr rmsg = {};
    rmsg.msg_iov = &riov;
    rmsg.msg_iovlen = 1;
    rmsg.msg_control = rcontrol.buf;
    rmsg.msg_controllen = sizeof rcontrol.buf;
    do n = recvmsg(sock_, &rmsg, MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    if (n <= 0) {
      *err = n == 0 ? ECONNRESET : errno;
      return -1;
    }
    *pidfd = -1;
    for (struct cmsghdr* c = CMSG_FIRSTHDR(&rmsg); c; c = CMSG_NXTHDR(&rmsg, c)) {
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) memcpy(pidfd, CMSG_DATA(c), sizeof(int));
    }
    if (data[0] <= 0 || *pidfd < 0) {
      if (*pidfd >= 0) close(*pidfd);
      *err = data[1] ? data[1] : EIO;
      return -1;
    }
    return data[0];
  }

  int sock_ = -1;
  pid_t pid_ = -1;
  int last_status_ = 0;
};

// requestSupervisor(exe, supervisorCgroups, title, netnsFd) -> {readyFd, specFd}
// Asks the fork server for a supervisor, which waits for its spec on the pipe
// whose write end is returned: the caller creates the job's cgroup meanwhile,
// writes the spec (naming it) and closes specFd; closing it without writing
// makes the supervisor give up. Every request must be followed by
// supervisorStarted(). netnsFd (or -1) becomes the supervisor's fd 5 and is
// closed here.
Napi::Value RequestSupervisor(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string exe = info[0].As<Napi::String>();
  Napi::Array dirs = info[1].As<Napi::Array>();
  std::vector<std::string> cgroups;
  for (uint32_t i = 0; i < dirs.Length(); i++) cgroups.push_back(dirs.Get(i).As<Napi::String>());
  std::string title = info[2].As<Napi::String>();
  // Ours to close on every path: the supervisor gets its own copies.
  struct OwnedFd {
    int fd = -1;
    ~OwnedFd() {
      if (fd >= 0) close(fd);
    }
  } netns, spec_r, spec_w, ready_r, ready_w;
  netns.fd = info[3].As<Napi::Number>().Int32Value();

  int p[2];
  if (pipe2(p, O_CLOEXEC) < 0) return ThrowErrno(env, "Cannot create the spec pipe", errno);
  spec_r.fd = p[0];
  spec_w.fd = p[1];
  if (pipe2(p, O_CLOEXEC) < 0) return ThrowErrno(env, "Cannot create the supervisor's channel", errno);
  ready_r.fd = p[0];
  ready_w.fd = p[1];

  int fds[3] = {spec_r.fd, ready_w.fd, netns.fd};
  std::string error;
  if (!ForkServer::Get().Send(exe, cgroups, title, fds, netns.fd >= 0 ? 3 : 2, &error)) {
    Napi::Error::New(env, "Cannot start a supervisor: " + error).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  // Only our side reads, without blocking the event loop.
  fcntl(ready_r.fd, F_SETFL, fcntl(ready_r.fd, F_GETFL) | O_NONBLOCK);
  Napi::Object result = Napi::Object::New(env);
  result.Set("readyFd", Napi::Number::New(env, ready_r.fd));
  result.Set("specFd", Napi::Number::New(env, spec_w.fd));
  ready_r.fd = -1;
  spec_w.fd = -1;
  return result;
}

// supervisorStarted() -> {pid, pidfd} of the supervisor last requested.
Napi::Value SupervisorStarted(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int pidfd = -1;
  std::string error;
  pid_t pid = ForkServer::Get().Receive(&pidfd, &error);
  if (pid < 0) {
    Napi::Error::New(env, "Cannot start a supervisor: " + error).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Object result = Napi::Object::New(env);
  result.Set("pid", Napi::Number::New(env, pid));
  result.Set("pidfd", Napi::Number::New(env, pidfd));
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
  exports.Set("requestSupervisor", Napi::Function::New(env, RequestSupervisor));
  exports.Set("supervisorStarted", Napi::Function::New(env, SupervisorStarted));
  exports.Set("takeNetns", Napi::Function::New(env, TakeNetns));
  exports.Set("makeNetns", Napi::Function::New(env, MakeNetns));
  exports.Set("pidfdOpen", Napi::Function::New(env, PidfdOpen));
  exports.Set("pidfdSendSignal", Napi::Function::New(env, PidfdSendSignal));
  exports.Set("reap", Napi::Function::New(env, Reap));
  exports.Set("ReadableWatch", ReadableWatch::Define(env));
  ExportNetworkFunctions(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(joblet, Init)
