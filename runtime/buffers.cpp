// Buffers: packing strided layouts, and point-to-point from and into the caller's memory.
#include <parrun/buffers.hpp>
#include <parrun/communicator.hpp>

#include <cstring>

#include "request_state.hpp"

namespace parrun {
namespace detail {

namespace {
// Calls copy(place in b, place in the consecutive bytes, length) for each run of b's first n
// elements: one run for a contiguous buffer, one per block (the last one cut short) otherwise.
template <class Copy>
void for_each_run(const raw_buffer& b, std::size_t n, Copy copy) noexcept {
  const std::size_t es = b.element_size;
  if (n == 0) return;
  if (b.layout.contiguous()) return copy(b.base, std::size_t{0}, n * es);
  const std::size_t block = b.layout.block * es, stride = b.layout.stride * es;
  std::byte* at = b.base;
  for (std::size_t done = 0, total = n * es; done < total; at += stride) {
    const std::size_t k = total - done < block ? total - done : block;
    copy(at, done, k);
    done += k;
  }
}
}  // namespace

void pack(const raw_buffer& b, std::byte* out, std::size_t n) noexcept {
  for_each_run(b, n, [&](const std::byte* at, std::size_t offset, std::size_t k) { std::memcpy(out + offset, at, k); });
}

void unpack(const raw_buffer& b, const std::byte* in, std::size_t n) noexcept {
  // memmove: an in-place collective may hand over bytes that overlap the buffer.
  for_each_run(b, n, [&](std::byte* at, std::size_t offset, std::size_t k) { std::memmove(at, in + offset, k); });
}

owned_bytes packed(const raw_buffer& b) {
  owned_bytes out;
  if (b.bytes() == 0) return out;
  pack(b, out.grow(b.bytes()), b.size());
  return out;
}

landing_zone zone_of(const raw_buffer& b) noexcept {
  if (!b.layout.contiguous() || b.bytes() == 0) return {};
  return landing_zone{b.base, b.bytes(), b.element_size, {b.element_type->hash, b.vector_type->hash}};
}

status accept_into(const comm_impl& comm, frame&& f, const raw_buffer& into, const char* op, int source,
                   int tag) {
  if (f.landed >= 0) return status_of(f);  // its zone checked type and size before it landed
  const std::size_t es = into.element_size;
  const bool typed = f.env.type == into.vector_type->hash || f.env.type == into.element_type->hash;
  const std::size_t count = f.body.size() / es;
  if (typed && f.body.size() % es == 0 && count <= into.size()) {
    unpack(into, f.body.data(), count);
    return status_of(f);
  }
  const envelope env = f.env;
  const std::size_t bytes = f.body.size();
  comm.eng().matching().put_back(std::move(f));
  const std::string where = op_name(op, "source", source, "tag", tag) + " on rank " + std::to_string(comm.rank()) +
                            ": the message from " + comm.name_rank(env.source) + " with tag " + std::to_string(env.tag);
  if (!typed)
    throw type_mismatch(where + " is of type " + type_name_of(env.type) + ", but it was received into a buffer of " +
                        type_name(*into.element_type) + " (the message stays queued)");
  if (bytes % es != 0)
    throw truncation_error(where + " has " + std::to_string(bytes) + " bytes, not a whole number of " +
                           std::to_string(es) + "-byte elements (the message stays queued)");
  throw truncation_error(where + " has " + std::to_string(count) + " elements of " + type_name(*into.element_type) +
                         ", but the buffer holds only " + std::to_string(into.size()) +
                         " (the message stays queued: receive it into a larger buffer)");
}

}  // namespace detail

detail::posted_send communicator::post_buffer(int dest, int tag, const detail::raw_buffer& b, const char* op) const {
  if (dest == no_rank) return {};
  return post_bytes(dest, tag, *b.vector_type, detail::packed(b), op);
}

request communicator::isend_buffer(int dest, int tag, const detail::raw_buffer& b) const {
  if (dest == no_rank) return request{};  // nothing to pack
  return isend_bytes(dest, tag, *b.vector_type, detail::packed(b));
}

status communicator::recv_buffer(int source, int tag, const detail::raw_buffer& b,
                                 const std::chrono::nanoseconds* timeout) const {
  if (source == no_rank) return null_status();
  const detail::comm_impl& c = impl();
  return detail::accept_into(c, detail::wait_frame(c, source, tag, timeout, "recv", detail::zone_of(b)), b, "recv",
                             source, tag);
}

request communicator::irecv_buffer(int source, int tag, const detail::raw_buffer& b) const {
  if (source == no_rank) return request{};
  detail::comm_impl& c = impl();
  c.check_source(source, "irecv");
  c.check_tag(tag, "irecv", true);
  return request(std::make_shared<detail::recv_request>(impl_, source, tag, b));
}

}  // namespace parrun
