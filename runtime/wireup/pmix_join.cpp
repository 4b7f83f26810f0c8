// Direct launch: `srun --mpi=pmix -n 8 ./prog` starts the ranks with no parrun launcher at all;
// each learns its rank and the job's size from the PMIx server Slurm runs on every node, and the
// ranks exchange their endpoints through it (Put, Commit, Fence) instead of through a launcher's
// control socket:
//   1. rank 0 makes the job's secret and CURVE key pair and puts them; fence;
//   2. every rank binds its lanes (TCP with those keys, shared memory on its node), puts its
//      table entry; fence; reads everyone's entry: that is the table.
// What a launcher does afterwards is done here too, through PMIx, by `pmix_control`:
//   - finalize: each rank puts its frame counts and joins a non-blocking fence; once it
//     completes, every rank reads the others' counts (the launcher's `peers_finished`) and may
//     exit. So parrun's exactly-once accounting holds without a launcher;
//   - a rank that fails (uncaught exception, parrun::abort) says why on stderr and asks the
//     PMIx server to abort the job: Slurm ends the other ranks and srun's exit code reports it.
// Not available without a launcher: --timeout queries (srun --time ends a job instead) and
// --continue-on-failure. Each rank keeps its sockets in a private directory of its own, removed
// when it leaves (a SIGKILLed rank leaves its empty socket files behind in $TMPDIR).
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include <zmq.h>

#include <parrun/errors.hpp>
#include <parrun/wire.hpp>

#include "transport/control.hpp"
#include "wireup/wireup.hpp"

#ifdef PARRUN_HAVE_PMIX
#include <pmix.h>
#endif

namespace parrun::detail {

bool started_by_pmix() {
  const char* rank = std::getenv("PMIX_RANK");
  const char* ns = std::getenv("PMIX_NAMESPACE");
  return rank != nullptr && *rank != '\0' && ns != nullptr && *ns != '\0';
}

#ifndef PARRUN_HAVE_PMIX

joined_job join_through_pmix(job_info) {
  throw usage_error(
      "this program was started by a PMIx launcher (PMIX_RANK and PMIX_NAMESPACE are set: srun "
      "--mpi=pmix?), but this parrun was built without PMIx (install libpmix-dev and rebuild); "
      "start it with `parrun -n N` instead, or under Slurm with parrun inside an allocation");
}

#else

namespace {

constexpr const char* key_job = "parrun.job";
constexpr const char* key_member = "parrun.member";
constexpr const char* key_finalize = "parrun.finalize";

struct job_keys {
  std::string secret;
  std::string curve_public;
  std::string curve_secret;
  template <class A> void serialize(A& a) { a(secret, curve_public, curve_secret); }
};

std::string pmix_error(const char* call, pmix_status_t rc) {
  return std::string(call) + " failed: " + PMIx_Error_string(rc);
}

std::string random_hex(std::size_t bytes) {
  std::string raw(bytes, '\0');
  const int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
  if (fd < 0 || read(fd, raw.data(), bytes) != static_cast<ssize_t>(bytes))
    throw transport_error("cannot read /dev/urandom for the job secret");
  close(fd);
  static const char digits[] = "0123456789abcdef";
  std::string hex;
  for (char ch : raw) {
    hex.push_back(digits[static_cast<unsigned char>(ch) >> 4]);
    hex.push_back(digits[static_cast<unsigned char>(ch) & 15]);
  }
  return hex;
}

// The PMIx session of this rank: its identity, and put / fence / get of byte strings.
class pmix_session {
 public:
  pmix_session() {
    const pmix_status_t rc = PMIx_Init(&me_, nullptr, 0);
    if (rc != PMIX_SUCCESS) throw transport_error(pmix_error("PMIx_Init", rc));
    PMIX_LOAD_PROCID(&all_, me_.nspace, PMIX_RANK_WILDCARD);
  }
  ~pmix_session() { (void)PMIx_Finalize(nullptr, 0); }
  pmix_session(const pmix_session&) = delete;
  pmix_session& operator=(const pmix_session&) = delete;

  int rank() const { return static_cast<int>(me_.rank); }
  std::string nspace() const { return me_.nspace; }

  int size() {
    pmix_value_t* v = nullptr;
    const pmix_status_t rc = PMIx_Get(&all_, PMIX_JOB_SIZE, nullptr, 0, &v);
    if (rc != PMIX_SUCCESS || v == nullptr) throw transport_error(pmix_error("PMIx_Get(PMIX_JOB_SIZE)", rc));
    const int n = static_cast<int>(v->data.uint32);
    PMIX_VALUE_RELEASE(v);
    return n;
  }

  void put(const char* key, const std::string& bytes) {
    pmix_value_t v;
    PMIX_VALUE_CONSTRUCT(&v);
    v.type = PMIX_BYTE_OBJECT;
    v.data.bo.bytes = const_cast<char*>(bytes.data());
    v.data.bo.size = bytes.size();
    pmix_status_t rc = PMIx_Put(PMIX_GLOBAL, key, &v);  // copies the value
    if (rc == PMIX_SUCCESS) rc = PMIx_Commit();
    if (rc != PMIX_SUCCESS) throw transport_error(pmix_error("PMIx_Put", rc));
  }

  void fence() {
    pmix_info_t info;
    bool collect = true;
    PMIX_INFO_LOAD(&info, PMIX_COLLECT_DATA, &collect, PMIX_BOOL);
    const pmix_status_t rc = PMIx_Fence(&all_, 1, &info, 1);
    PMIX_INFO_DESTRUCT(&info);
    if (rc != PMIX_SUCCESS) throw transport_error(pmix_error("PMIx_Fence", rc));
  }

  /// Starts a fence that does not block; `done` is set (and `wake` written) when it completes.
  void fence_nb(std::atomic<int>* done, int wake) {
    done_ = done;
    wake_ = wake;
    pmix_info_t info;
    bool collect = true;
    PMIX_INFO_LOAD(&info, PMIX_COLLECT_DATA, &collect, PMIX_BOOL);
    const pmix_status_t rc = PMIx_Fence_nb(&all_, 1, &info, 1, &pmix_session::fenced, this);
    PMIX_INFO_DESTRUCT(&info);
    if (rc != PMIX_SUCCESS) throw transport_error(pmix_error("PMIx_Fence_nb", rc));
  }

  std::string get(int rank, const char* key) {
    pmix_proc_t p;
    PMIX_LOAD_PROCID(&p, me_.nspace, static_cast<pmix_rank_t>(rank));
    pmix_value_t* v = nullptr;
    const pmix_status_t rc = PMIx_Get(&p, key, nullptr, 0, &v);
    if (rc != PMIX_SUCCESS || v == nullptr || v->type != PMIX_BYTE_OBJECT)
      throw transport_error("rank " + std::to_string(rank) + " published no " + key + ": " + PMIx_Error_string(rc));
    std::string bytes(v->data.bo.bytes, v->data.bo.size);
    PMIX_VALUE_RELEASE(v);
    return bytes;
  }

  void abort(int code, const std::string& reason) { (void)PMIx_Abort(code, reason.c_str(), nullptr, 0); }

 private:
  static void fenced(pmix_status_t status, void* self) {
    auto* s = static_cast<pmix_session*>(self);
    s->done_->store(status == PMIX_SUCCESS ? 1 : -1);
    const std::uint64_t one = 1;
    (void)!write(s->wake_, &one, sizeof one);
  }

  pmix_proc_t me_{};
  pmix_proc_t all_{};
  std::atomic<int>* done_ = nullptr;
  int wake_ = -1;
};

// Encodes a Cereal value as a wire body (no kind byte needed: keys say what it is).
template <class T>
std::string pack(const T& value) {
  return wire::encode(wire::kind::hello, value);
}
template <class T>
T unpack(const std::string& bytes) {
  return wire::decode<T>(bytes);
}

// What a launcher would do for a rank after the table, done with the PMIx server instead.
class pmix_control final : public control_channel {
 public:
  pmix_control(std::shared_ptr<pmix_session> session, job_info info, std::string dir)
      : session_(std::move(session)), info_(std::move(info)), dir_(std::move(dir)),
        wake_(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {}
  ~pmix_control() override { close(); }

  void send(const std::string& bytes) override {
    switch (wire::kind_of(bytes)) {
      case wire::kind::failing: {
        const auto f = wire::decode<wire::failing>(bytes);
        std::fprintf(stderr, "parrun: rank %d (pid %d on %s) %s%s; asking the PMIx server to end the job\n", info_.rank,
                     static_cast<int>(getpid()), info_.host.c_str(),
                     f.what == wire::failure_kind::aborted ? "called parrun::abort: " : "ended with an ",
                     f.reason.c_str());
        std::fflush(stderr);
        session_->abort(f.code, f.reason);
        queue(wire::encode(wire::kind::ack, wire::empty{}));
        break;
      }
      case wire::kind::finalize: {
        session_->put(key_finalize, bytes);
        session_->fence_nb(&fence_done_, wake_);
        break;
      }
      default:
        break;  // state, leaving: nobody asks, nobody needs to know
    }
  }

  std::size_t drain(frame_sink& sink) override {
    if (fence_done_.load() != 0 && !finished_) collect_counts();
    std::size_t n = 0;
    for (std::string& m : inbox_) {
      sink.on_control(std::move(m));
      ++n;
    }
    inbox_.clear();
    return n;
  }

  void wait_items(std::vector<zmq::pollitem_t>& items) override {
    if (wake_ >= 0) items.push_back({nullptr, wake_, ZMQ_POLLIN, 0});
  }

  void close() noexcept override {
    if (wake_ < 0) return;
    ::close(wake_);
    wake_ = -1;
    // The rank's sockets and their directory: nobody else removes them.
    for (const std::string& f : {wire::zmq_socket_path(dir_, info_.rank), wire::shm_socket_path(dir_, info_.rank)})
      (void)unlink(f.c_str());
    (void)rmdir(dir_.c_str());
    session_.reset();
  }

 private:
  void queue(std::string m) {
    inbox_.push_back(std::move(m));
    const std::uint64_t one = 1;
    (void)!write(wake_, &one, sizeof one);
  }

  // Every rank's finalize counts, as the launcher's peers_finished would give them.
  void collect_counts() {
    finished_ = true;
    std::uint64_t drained = 0;
    (void)!read(wake_, &drained, sizeof drained);
    if (fence_done_.load() < 0) throw transport_error("the PMIx fence at finalize failed");
    wire::peers_finished news;
    const auto me = static_cast<std::size_t>(info_.rank);
    for (int r = 0; r < info_.size; ++r) {
      if (r == info_.rank) continue;
      const auto counts = wire::decode<wire::finalize>(session_->get(r, key_finalize));
      if (counts.sent.size() <= me || counts.arrived.size() <= me || counts.values_arrived.size() <= me) continue;
      news.peers.push_back(wire::peer_finished{r, counts.sent[me], counts.arrived[me], counts.values_arrived[me]});
    }
    inbox_.push_back(wire::encode(wire::kind::peers_finished, news));
    inbox_.push_back(wire::encode(wire::kind::finalized, wire::empty{}));
  }

  std::shared_ptr<pmix_session> session_;
  job_info info_;
  std::string dir_;
  int wake_;
  std::atomic<int> fence_done_{0};
  bool finished_ = false;
  std::vector<std::string> inbox_;
};

// A directory of this rank's own, closed to everyone else, for its sockets.
std::string private_socket_dir(int rank) {
  const char* tmp = std::getenv("TMPDIR");
  std::string base = tmp != nullptr && *tmp == '/' ? tmp : "/tmp";
  std::string name = base + "/parrun-pmix-" + std::to_string(rank) + "-XXXXXX";
  if (name.size() > 80) name = "/tmp/parrun-pmix-" + std::to_string(rank) + "-XXXXXX";
  if (mkdtemp(name.data()) == nullptr)
    throw transport_error("cannot make a socket directory under " + base + ": " + std::strerror(errno));
  return name;
}

}  // namespace

joined_job join_through_pmix(job_info info) {
  auto session = std::make_shared<pmix_session>();
  info.launched = true;
  info.rank = session->rank();
  info.size = session->size();
  info.job_id = session->nspace();

  // 1. The job's secret and keys, made once, by rank 0.
  if (info.rank == 0) {
    char pub[41] = {}, sec[41] = {};
    if (zmq_curve_keypair(pub, sec) != 0) throw transport_error("this libzmq cannot make CURVE keys");
    session->put(key_job, pack(job_keys{random_hex(16), pub, sec}));
  }
  session->fence();
  const auto keys = unpack<job_keys>(session->get(0, key_job));

  wire::contract contract;
  contract.rank = info.rank;
  contract.size = info.size;
  contract.secret = keys.secret;
  contract.curve_public = keys.curve_public;
  contract.curve_secret = keys.curve_secret;
  contract.job_id = info.job_id;
  contract.socket_dir = private_socket_dir(info.rank);
  if (const char* iface = std::getenv(wire::env_iface)) contract.iface = iface;
  if (const char* ports = std::getenv(wire::env_ports)) contract.ports = ports;
  // No launcher to route towards: the node srun ran on stands for it.
  const char* launch_node = std::getenv("SLURM_LAUNCH_NODE_IPADDR");
  contract.rendezvous = std::string("tcp://") + (launch_node != nullptr && *launch_node != '\0' ? launch_node : "127.0.0.1") + ":0";

  // 2. The table: every rank's entry, through the PMIx server.
  const std::string dir = contract.socket_dir;
  membership_exchange exchange = [session, dir](job_info& in, const wire::hello& hello, std::shared_ptr<zmq_context>) {
    session->put(key_member, pack(hello.self));
    session->fence();
    exchanged ex;
    for (int r = 0; r < in.size; ++r)
      ex.table.ranks.push_back(r == in.rank ? hello.self : unpack<wire::member>(session->get(r, key_member)));
    // Ranks that share this machine, in rank order: the local rank and size.
    in.local_rank = 0;
    in.local_size = 0;
    for (int r = 0; r < in.size; ++r)
      if (ex.table.ranks[static_cast<std::size_t>(r)].host_id == hello.self.host_id) {
        if (r < in.rank) ++in.local_rank;
        ++in.local_size;
      }
    ex.control = std::make_unique<pmix_control>(session, in, dir);
    return ex;
  };
  const bool may_span_hosts = info.size > 1;
  return join_members(std::move(info), contract, may_span_hosts, exchange);
}

#endif

}  // namespace parrun::detail
