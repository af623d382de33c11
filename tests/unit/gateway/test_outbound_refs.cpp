// Reference chunks: published frames queued by reference (LocalFrame -> SharedFrame), mixed with
// copied bytes. Every SharedFrame here is made with one extra "probe" reference held by the test,
// so refs == 2 means the worker still holds its share and refs == 1 means it gave it back: the
// shared reference goes back exactly when the last queued chunk and the fan-out hold are gone.
// (Run under ASan too: a double release frees early and the probe read becomes a use-after-free.)
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "gateway/message_writer.hpp"
#include "ringgate/net/outbound.hpp"
#include "ringgate/pubsub/frame.hpp"

namespace ringgate::gateway {
namespace {

using pubsub::SharedFrame;

// A frame for `topic_id` whose data is a JSON string of `data_len` 'x' characters (>= 2).
struct Probe {
  SharedFrame* f;
  Probe(std::uint64_t topic_id, std::uint64_t seq, std::size_t data_len = 10) {
    std::string data(data_len, char('a' + seq % 26));
    data.front() = data.back() = '"';
    f = SharedFrame::make(std::string("t") + std::to_string(topic_id), topic_id, seq, data, 0, 2);
  }
  ~Probe() {
    EXPECT_EQ(shared_refs(), 1u) << "the worker still holds frame seq " << f->seq;
    if (shared_refs() == 1) f->release();  // the probe's own reference: frees the frame
  }
  Probe(const Probe&) = delete;
  Probe& operator=(const Probe&) = delete;
  std::uint32_t shared_refs() const { return f->refs.load(); }
  std::string bytes() const { return {reinterpret_cast<const char*>(f->bytes), f->len}; }
};

// The unsent bytes in order; like a send, it locks the chunks it describes.
std::string drain_all(OutQueue& q, std::size_t* iovs = nullptr) {
  iovec iov[64];
  const std::size_t n = q.fill_iov(iov, 64);
  if (iovs != nullptr) *iovs = n;
  std::string s;
  for (std::size_t i = 0; i < n; ++i) s.append(static_cast<char*>(iov[i].iov_base), iov[i].iov_len);
  return s;
}

// The unsent bytes without locking anything: walks the chunks as the queue exposes them.
std::string peek(const OutQueue& q) {
  std::string s;
  for (const Chunk* c = q.head(); c != nullptr; c = c->next) {
    s.append(reinterpret_cast<const char*>(c->bytes() + c->begin), c->size());
  }
  return s;
}

std::size_t chunk_count(const OutQueue& q) {
  std::size_t n = 0;
  for (const Chunk* c = q.head(); c != nullptr; c = c->next) ++n;
  return n;
}

TEST(OutboundRefs, LocalFrameCountsHoldersAndReleasesTheSharedRefOnce) {
  ChunkPool pool;
  Probe p(1, 1);
  ASSERT_NE(p.f, nullptr);
  LocalFrame* lf = pool.local_frame(shared_ref(p.f));
  ASSERT_NE(lf, nullptr);
  EXPECT_EQ(lf->shared.owner, p.f);
  EXPECT_EQ(lf->refs, 1u) << "the fan-out's own hold";
  Chunk* a = pool.get_ref(lf);
  Chunk* b = pool.get_ref(lf);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(lf->refs, 3u);
  EXPECT_EQ(pool.outstanding(), 2u);
  EXPECT_TRUE(a->is_ref());
  EXPECT_EQ(a->ref(), lf);
  EXPECT_EQ(a->begin, 0u);
  EXPECT_EQ(a->size(), p.f->len) << "the whole frame is unsent";
  EXPECT_EQ(a->room(), 0u) << "nothing can be appended to a reference";
  EXPECT_EQ(a->bytes(), p.f->bytes) << "no copy: the shared bytes themselves";
  EXPECT_EQ(p.shared_refs(), 2u) << "subscribers do not touch the shared count";
  pool.release_local(lf);  // fan-out done
  EXPECT_EQ(lf->refs, 2u);
  EXPECT_EQ(p.shared_refs(), 2u) << "queued chunks still hold it";
  pool.put(a);
  EXPECT_EQ(p.shared_refs(), 2u);
  pool.put(b);  // the last holder
  EXPECT_EQ(p.shared_refs(), 1u) << "given back exactly when the last local holder let go";
  EXPECT_EQ(pool.outstanding(), 0u);
}

TEST(OutboundRefs, PoolRecyclesReferenceChunksAndLocalFrames) {
  ChunkPool pool;
  Probe p1(1, 1), p2(2, 2, 40);
  LocalFrame* lf1 = pool.local_frame(shared_ref(p1.f));
  Chunk* c1 = pool.get_ref(lf1);
  pool.put(c1);
  pool.release_local(lf1);
  EXPECT_EQ(p1.shared_refs(), 1u);
  // A recycled node must be fully reset for its new frame.
  LocalFrame* lf2 = pool.local_frame(shared_ref(p2.f));
  EXPECT_EQ(lf2->shared.owner, p2.f);
  EXPECT_EQ(lf2->refs, 1u);
  Chunk* c2 = pool.get_ref(lf2);
  EXPECT_EQ(c2->ref(), lf2);
  EXPECT_EQ(c2->begin, 0u);
  EXPECT_EQ(c2->size(), p2.f->len);
  EXPECT_EQ(c2->next, nullptr);
  EXPECT_EQ(c2->control, 0u);
  pool.put(c2);
  pool.release_local(lf2);
}

TEST(OutboundRefs, FillIovOverMixedCopyAndReferenceChunks) {
  ChunkPool pool;
  OutQueue q;
  Probe p1(1, 1, 30), p2(2, 2, 300);
  LocalFrame* lf1 = pool.local_frame(shared_ref(p1.f));
  LocalFrame* lf2 = pool.local_frame(shared_ref(p2.f));
  ASSERT_TRUE(q.write(pool, "AAA", 3));
  ASSERT_TRUE(q.append_ref(pool, lf1));
  ASSERT_TRUE(q.write(pool, "BB", 2));  // a new copy chunk after the reference
  ASSERT_TRUE(q.write(pool, "C", 1));   // shares the copy chunk
  ASSERT_TRUE(q.append_ref(pool, lf2));
  ASSERT_TRUE(q.append_ref(pool, lf1));  // the same frame twice in one queue
  const std::string want = std::string("AAA") + p1.bytes() + "BBC" + p2.bytes() + p1.bytes();
  EXPECT_EQ(q.tally().bytes, want.size());
  EXPECT_EQ(chunk_count(q), 5u);
  EXPECT_EQ(lf1->refs, 3u);
  std::size_t iovs = 0;
  EXPECT_EQ(drain_all(q, &iovs), want);
  EXPECT_EQ(iovs, 5u);
  // A narrower send describes a prefix only.
  iovec iov[2];
  ASSERT_EQ(q.fill_iov(iov, 2), 2u);
  EXPECT_EQ(iov[1].iov_base, static_cast<void*>(p1.f->bytes));
  EXPECT_EQ(iov[1].iov_len, p1.f->len);
  q.consume(pool, want.size());
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.tally().bytes, 0u);
  pool.release_local(lf1);
  pool.release_local(lf2);
  EXPECT_EQ(pool.outstanding(), 0u);
}

TEST(OutboundRefs, ConsumeAcrossAReferenceChunkBoundary) {
  ChunkPool pool;
  OutQueue q;
  Probe p1(1, 1, 50), p2(2, 2, 70);
  LocalFrame* lf1 = pool.local_frame(shared_ref(p1.f));
  LocalFrame* lf2 = pool.local_frame(shared_ref(p2.f));
  ASSERT_TRUE(q.write(pool, "head", 4));
  ASSERT_TRUE(q.append_ref(pool, lf1));
  ASSERT_TRUE(q.append_ref(pool, lf2));
  pool.release_local(lf1);  // the queue is now the only holder of both
  pool.release_local(lf2);
  const std::string all = std::string("head") + p1.bytes() + p2.bytes();
  ASSERT_EQ(drain_all(q), all);
  q.consume(pool, 4 + 5);  // the copy chunk and 5 bytes into frame 1
  EXPECT_EQ(q.tally().bytes, all.size() - 9);
  EXPECT_EQ(drain_all(q), all.substr(9));
  EXPECT_EQ(p1.shared_refs(), 2u) << "frame 1 is half sent: still held";
  q.consume(pool, p1.f->len - 5 + 3);  // the rest of frame 1 and 3 bytes of frame 2
  EXPECT_EQ(p1.shared_refs(), 1u) << "frame 1 fully sent: its chunk went back and released it";
  EXPECT_EQ(p2.shared_refs(), 2u);
  EXPECT_EQ(drain_all(q), p2.bytes().substr(3));
  EXPECT_EQ(q.tally().bytes, p2.f->len - 3);
  q.consume(pool, p2.f->len - 3);
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(p2.shared_refs(), 1u);
  EXPECT_EQ(pool.outstanding(), 0u);
}

TEST(OutboundRefs, ReplaceRefReplacesTheNewestUnsentFrameOfTheTopic) {
  ChunkPool pool;
  OutQueue q;
  Probe a1(1, 1, 20), b1(2, 2, 30), a2(1, 3, 40), a3(1, 4, 55);
  LocalFrame* la1 = pool.local_frame(shared_ref(a1.f));
  LocalFrame* lb1 = pool.local_frame(shared_ref(b1.f));
  LocalFrame* la2 = pool.local_frame(shared_ref(a2.f));
  LocalFrame* la3 = pool.local_frame(shared_ref(a3.f));
  ASSERT_TRUE(q.append_ref(pool, la1));
  ASSERT_TRUE(q.append_ref(pool, lb1));
  ASSERT_TRUE(q.append_ref(pool, la2));
  ASSERT_TRUE(q.write(pool, "copy", 4));
  pool.release_local(la2);  // only the queue holds a2 now
  const std::uint64_t before = q.tally().bytes;
  ASSERT_TRUE(q.replace_ref(pool, la3));
  EXPECT_EQ(a2.shared_refs(), 1u) << "the replaced frame was released";
  EXPECT_EQ(a1.shared_refs(), 2u) << "the older frame of the topic stays";
  EXPECT_EQ(la3->refs, 2u) << "the fan-out hold + the queue's";
  EXPECT_EQ(q.tally().bytes, before - a2.f->len + a3.f->len);
  EXPECT_EQ(chunk_count(q), 4u) << "replaced in place, not appended";
  EXPECT_EQ(peek(q), a1.bytes() + b1.bytes() + a3.bytes() + "copy")
      << "older frames of the topic, then the new one, in the old one's place";
  // A topic with nothing queued: false, nothing changes.
  Probe c1(3, 5);
  LocalFrame* lc1 = pool.local_frame(shared_ref(c1.f));
  const std::uint64_t bytes_now = q.tally().bytes;
  EXPECT_FALSE(q.replace_ref(pool, lc1));
  EXPECT_EQ(lc1->refs, 1u) << "a failed replace takes no reference";
  EXPECT_EQ(q.tally().bytes, bytes_now);
  EXPECT_EQ(drain_all(q), a1.bytes() + b1.bytes() + a3.bytes() + "copy");
  q.clear(pool);
  for (LocalFrame* lf : {la1, lb1, la3, lc1}) pool.release_local(lf);
  EXPECT_EQ(pool.outstanding(), 0u);
}

TEST(OutboundRefs, ReplaceRefNeverTouchesALockedFrame) {
  ChunkPool pool;
  OutQueue q;
  Probe a1(1, 1, 20), b1(2, 2), a2(1, 3, 33);
  LocalFrame* la1 = pool.local_frame(shared_ref(a1.f));
  LocalFrame* lb1 = pool.local_frame(shared_ref(b1.f));
  LocalFrame* la2 = pool.local_frame(shared_ref(a2.f));
  ASSERT_TRUE(q.append_ref(pool, la1));
  iovec iov[4];
  ASSERT_EQ(q.fill_iov(iov, 4), 1u);  // a send has taken a1 (not yet completed)
  ASSERT_TRUE(q.append_ref(pool, lb1));
  EXPECT_FALSE(q.replace_ref(pool, la2)) << "a1 is locked by the send even though none of it has left";
  EXPECT_EQ(la2->refs, 1u);
  EXPECT_EQ(a1.shared_refs(), 2u);
  EXPECT_EQ(iov[0].iov_base, static_cast<void*>(a1.f->bytes)) << "the in-flight iovec still points at a1";
  EXPECT_EQ(peek(q), a1.bytes() + b1.bytes());
  // The send completes: a1 leaves; later a2 is only appendable, the queue has no topic-1 frame.
  q.consume(pool, a1.f->len);
  EXPECT_FALSE(q.replace_ref(pool, la2));
  ASSERT_TRUE(q.append_ref(pool, la2));
  EXPECT_EQ(peek(q), b1.bytes() + a2.bytes());
  q.clear(pool);
  for (LocalFrame* lf : {la1, lb1, la2}) pool.release_local(lf);
}

TEST(OutboundRefs, ReplaceRefSkipsLockedButReplacesALaterUnsentFrame) {
  ChunkPool pool;
  OutQueue q;
  Probe a1(1, 1, 20), a2(1, 2, 25), a3(1, 3, 31);
  LocalFrame* la1 = pool.local_frame(shared_ref(a1.f));
  LocalFrame* la2 = pool.local_frame(shared_ref(a2.f));
  LocalFrame* la3 = pool.local_frame(shared_ref(a3.f));
  ASSERT_TRUE(q.append_ref(pool, la1));
  iovec iov[4];
  ASSERT_EQ(q.fill_iov(iov, 4), 1u);  // a1 in flight
  ASSERT_TRUE(q.append_ref(pool, la2));
  ASSERT_TRUE(q.replace_ref(pool, la3));
  EXPECT_EQ(peek(q), a1.bytes() + a3.bytes()) << "a2 (unlocked) replaced, a1 (locked) kept";
  EXPECT_EQ(a2.shared_refs(), 2u) << "the fan-out still holds a2";
  pool.release_local(la2);
  EXPECT_EQ(a2.shared_refs(), 1u) << "the queue gave its reference to a2 back";
  q.consume(pool, a1.f->len);
  EXPECT_EQ(drain_all(q), a3.bytes());
  q.clear(pool);
  pool.release_local(la1);
  pool.release_local(la3);
}

TEST(OutboundRefs, ReplaceRefNeverTouchesAPartlySentFrame) {
  ChunkPool pool;
  OutQueue q;
  Probe a1(1, 1, 60), a2(1, 2, 25);
  LocalFrame* la1 = pool.local_frame(shared_ref(a1.f));
  LocalFrame* la2 = pool.local_frame(shared_ref(a2.f));
  ASSERT_TRUE(q.append_ref(pool, la1));
  ASSERT_EQ(drain_all(q), a1.bytes());
  q.consume(pool, 10);  // the send took only 10 bytes of a1
  ASSERT_EQ(q.head()->begin, 10u);
  EXPECT_FALSE(q.replace_ref(pool, la2)) << "half of a1 is on the wire: its rest must follow";
  EXPECT_EQ(peek(q), a1.bytes().substr(10));
  // Even when something else is locked in between, a partly sent frame is left alone.
  q.lock_head();
  q.consume(pool, 0);  // a zero-byte completion: still partly sent (begin > 0), no longer locked
  EXPECT_FALSE(q.replace_ref(pool, la2)) << "begin > 0 is never replaced, locked or not";
  q.clear(pool);
  EXPECT_EQ(q.tally().bytes, 0u);
  pool.release_local(la1);
  pool.release_local(la2);
  EXPECT_EQ(pool.outstanding(), 0u);
}

TEST(OutboundRefs, ReplaceRefOfTheSameTopicRepeatedlyKeepsOneQueued) {
  // Conflation under a burst: 100 frames of one topic while the queue is held; one stays queued.
  ChunkPool pool;
  OutQueue q;
  std::vector<std::unique_ptr<Probe>> probes;
  for (std::uint64_t s = 1; s <= 100; ++s) {
    probes.push_back(std::make_unique<Probe>(7, s, 10 + s));
    LocalFrame* lf = pool.local_frame(shared_ref(probes.back()->f));
    if (!q.replace_ref(pool, lf)) {
      ASSERT_TRUE(q.append_ref(pool, lf));
    }
    pool.release_local(lf);  // fan-out done for this message
  }
  EXPECT_EQ(chunk_count(q), 1u);
  EXPECT_EQ(q.tally().bytes, probes.back()->f->len);
  EXPECT_EQ(peek(q), probes.back()->bytes());
  for (std::size_t i = 0; i + 1 < probes.size(); ++i) EXPECT_EQ(probes[i]->shared_refs(), 1u) << "seq " << i + 1;
  EXPECT_EQ(probes.back()->shared_refs(), 2u);
  q.clear(pool);
  EXPECT_EQ(pool.outstanding(), 0u);
}

TEST(OutboundRefs, DropUnsentKeepsLockedChunksAndReleasesTheRest) {
  ChunkPool pool;
  OutQueue q;
  Probe p1(1, 1, 20), p2(2, 2, 30), p3(3, 3, 40);
  LocalFrame* l1 = pool.local_frame(shared_ref(p1.f));
  LocalFrame* l2 = pool.local_frame(shared_ref(p2.f));
  LocalFrame* l3 = pool.local_frame(shared_ref(p3.f));
  ASSERT_TRUE(q.append_ref(pool, l1));
  ASSERT_TRUE(q.write(pool, "xyz", 3));
  ASSERT_TRUE(q.append_ref(pool, l2));
  iovec iov[2];
  ASSERT_EQ(q.fill_iov(iov, 2), 2u);  // a send has taken p1 and "xyz"
  ASSERT_TRUE(q.append_ref(pool, l3));
  ASSERT_TRUE(q.write(pool, "tail", 4));
  for (LocalFrame* lf : {l1, l2, l3}) pool.release_local(lf);  // queued chunks are the only holders
  q.drop_unsent(pool);
  EXPECT_EQ(p2.shared_refs(), 1u) << "unsent: released";
  EXPECT_EQ(p3.shared_refs(), 1u) << "unsent: released";
  EXPECT_EQ(p1.shared_refs(), 2u) << "locked: kept, the kernel may be reading it";
  EXPECT_EQ(q.tally().bytes, p1.f->len + 3);
  EXPECT_EQ(chunk_count(q), 2u);
  EXPECT_EQ(peek(q), p1.bytes() + "xyz");
  // The tail is right: a later write lands after the kept chunks.
  ASSERT_TRUE(q.write(pool, "!", 1));
  EXPECT_EQ(peek(q), p1.bytes() + "xyz!");
  q.consume(pool, p1.f->len + 3);
  EXPECT_EQ(p1.shared_refs(), 1u);
  EXPECT_EQ(drain_all(q), "!");
  q.clear(pool);
  EXPECT_EQ(pool.outstanding(), 0u);
}

TEST(OutboundRefs, DropUnsentKeepsAPartlySentHead) {
  ChunkPool pool;
  OutQueue q;
  Probe p1(1, 1, 50), p2(2, 2, 50);
  LocalFrame* l1 = pool.local_frame(shared_ref(p1.f));
  LocalFrame* l2 = pool.local_frame(shared_ref(p2.f));
  ASSERT_TRUE(q.append_ref(pool, l1));
  ASSERT_TRUE(q.append_ref(pool, l2));
  pool.release_local(l1);
  pool.release_local(l2);
  ASSERT_EQ(drain_all(q), p1.bytes() + p2.bytes());
  q.consume(pool, 7);  // p1 half out
  q.drop_unsent(pool);
  EXPECT_EQ(p2.shared_refs(), 1u);
  EXPECT_EQ(p1.shared_refs(), 2u);
  EXPECT_EQ(q.tally().bytes, p1.f->len - 7);
  EXPECT_EQ(drain_all(q), p1.bytes().substr(7)) << "the rest of the half-sent frame still goes out";
  q.consume(pool, p1.f->len - 7);
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(pool.outstanding(), 0u);
}

TEST(OutboundRefs, DropUnsentWithNothingLockedEmptiesTheQueue) {
  ChunkPool pool;
  OutQueue q;
  Probe p1(1, 1);
  LocalFrame* l1 = pool.local_frame(shared_ref(p1.f));
  ASSERT_TRUE(q.write(pool, "abc", 3));
  ASSERT_TRUE(q.append_ref(pool, l1));
  ASSERT_TRUE(q.append_ref(pool, l1));
  pool.release_local(l1);
  q.drop_unsent(pool);
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.head(), nullptr);
  EXPECT_EQ(q.tally().bytes, 0u);
  EXPECT_EQ(p1.shared_refs(), 1u);
  EXPECT_EQ(pool.outstanding(), 0u);
  ASSERT_TRUE(q.write(pool, "again", 5));  // usable afterwards
  EXPECT_EQ(drain_all(q), "again");
  q.clear(pool);
}

TEST(OutboundRefs, ClearReleasesEveryReferenceAcrossQueues) {
  ChunkPool pool;
  OutQueue q1, q2, q3;
  Probe p1(1, 1, 20), p2(2, 2, 20);
  LocalFrame* l1 = pool.local_frame(shared_ref(p1.f));
  LocalFrame* l2 = pool.local_frame(shared_ref(p2.f));
  // Three subscribers on this worker; one of them has p1 twice.
  for (OutQueue* q : {&q1, &q2, &q3}) {
    ASSERT_TRUE(q->append_ref(pool, l1));
    ASSERT_TRUE(q->write(pool, "ctl", 3));
    ASSERT_TRUE(q->append_ref(pool, l2));
  }
  ASSERT_TRUE(q3.append_ref(pool, l1));
  EXPECT_EQ(l1->refs, 5u);
  pool.release_local(l1);
  pool.release_local(l2);
  drain_all(q2);  // locked chunks are released by clear() too (a connection being freed)
  q2.consume(pool, 5);
  q1.clear(pool);
  EXPECT_EQ(p1.shared_refs(), 2u);
  q2.clear(pool);
  EXPECT_EQ(p1.shared_refs(), 2u);
  EXPECT_EQ(p2.shared_refs(), 2u);
  EXPECT_TRUE(q2.empty());
  EXPECT_EQ(q2.tally().bytes, 0u);
  q3.clear(pool);  // the last holder of both
  EXPECT_EQ(p1.shared_refs(), 1u);
  EXPECT_EQ(p2.shared_refs(), 1u);
  EXPECT_EQ(pool.outstanding(), 0u);
}

TEST(OutboundRefs, ControlFrameGoesAheadOfQueuedReferences) {
  ChunkPool pool;
  OutQueue q;
  Probe p1(1, 1), p2(2, 2);
  LocalFrame* l1 = pool.local_frame(shared_ref(p1.f));
  LocalFrame* l2 = pool.local_frame(shared_ref(p2.f));
  ASSERT_TRUE(q.append_ref(pool, l1));
  ASSERT_TRUE(q.append_ref(pool, l2));
  ASSERT_TRUE(q.write_control(pool, "PONG", 4));
  EXPECT_EQ(peek(q), std::string("PONG") + p1.bytes() + p2.bytes());
  // Conflation still finds the frames behind the control chunk.
  Probe p3(2, 3, 40);
  LocalFrame* l3 = pool.local_frame(shared_ref(p3.f));
  ASSERT_TRUE(q.replace_ref(pool, l3));
  EXPECT_EQ(peek(q), std::string("PONG") + p1.bytes() + p3.bytes());
  q.clear(pool);
  for (LocalFrame* lf : {l1, l2, l3}) pool.release_local(lf);
  EXPECT_EQ(pool.outstanding(), 0u);
}

}  // namespace
}  // namespace ringgate::gateway
