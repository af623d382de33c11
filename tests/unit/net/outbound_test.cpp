#include "ringgate/net/outbound.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

namespace ringgate::net {
namespace {

// The unsent bytes in order; like a send, it locks the chunks it describes.
std::string drain_all(OutQueue& q) {
  iovec iov[64];
  std::size_t n = q.fill_iov(iov, 64);
  std::string s;
  for (std::size_t i = 0; i < n; ++i) s.append(static_cast<char*>(iov[i].iov_base), iov[i].iov_len);
  return s;
}

TEST(OutQueue, SmallWritesShareOneChunk) {
  ChunkPool pool;
  OutQueue q;
  EXPECT_TRUE(q.empty());
  ASSERT_TRUE(q.write(pool, "abc", 3));
  ASSERT_TRUE(q.write(pool, "def", 3));
  EXPECT_EQ(q.tally().bytes, 6u);
  EXPECT_EQ(q.head()->next, nullptr) << "both writes fit one chunk: one send";
  EXPECT_EQ(drain_all(q), "abcdef");
  q.clear(pool);
  EXPECT_EQ(pool.outstanding(), 0u);
}

TEST(OutQueue, PartialConsumeKeepsOrderAndReturnsChunks) {
  ChunkPool pool;
  OutQueue q;
  std::string big(ChunkPool::kChunkBytes - 10, 'x');
  ASSERT_TRUE(q.write(pool, big.data(), big.size()));
  ASSERT_TRUE(q.write(pool, "0123456789ABCDEFGHIJ", 20));  // does not fit: second chunk
  ASSERT_NE(q.head()->next, nullptr);
  EXPECT_EQ(q.tally().bytes, big.size() + 20);
  q.consume(pool, big.size() - 5);
  EXPECT_EQ(drain_all(q), "xxxxx0123456789ABCDEFGHIJ");
  q.consume(pool, 10);
  EXPECT_EQ(drain_all(q), "56789ABCDEFGHIJ");
  EXPECT_EQ(pool.outstanding(), 1u) << "the drained first chunk went back";
  q.consume(pool, 15);
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.tally().bytes, 0u);
  EXPECT_EQ(pool.outstanding(), 0u) << "an idle queue holds no chunk";
}

TEST(OutQueue, AppendedChunkKeepsHeadroomLayout) {
  ChunkPool pool;
  OutQueue q;
  Chunk* c = pool.get(100000);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->pooled, 0u);
  c->begin = c->end = 14;
  c = pool.grow(c, 200000);
  ASSERT_NE(c, nullptr);
  EXPECT_GE(c->cap, 200000u);
  std::memcpy(c->data + c->end, "payload", 7);
  c->end += 7;
  c->begin = 12;
  c->data[12] = 'H';
  c->data[13] = 'D';
  ASSERT_TRUE(q.write(pool, "pre", 3));
  q.append(c);
  EXPECT_EQ(drain_all(q), "preHDpayload");
  q.clear(pool);
  EXPECT_EQ(pool.outstanding(), 0u);
}

TEST(ChunkPool, GrowFromPooledCopiesAndRecycles) {
  ChunkPool pool;
  Chunk* c = pool.get(10);
  ASSERT_EQ(c->pooled, 1u);
  std::memcpy(c->data, "hello", 5);
  c->end = 5;
  Chunk* g = pool.grow(c, ChunkPool::kChunkBytes * 3);
  ASSERT_NE(g, nullptr);
  EXPECT_EQ(std::string(reinterpret_cast<char*>(g->data), 5), "hello");
  EXPECT_EQ(pool.cached(), 1u) << "the standard chunk is cached again";
  pool.put(g);
  EXPECT_EQ(pool.outstanding(), 0u);
}

TEST(OutQueue, IovLimitIsRespected) {
  ChunkPool pool;
  OutQueue q;
  for (int i = 0; i < 5; ++i) {
    Chunk* c = pool.get(ChunkPool::kChunkBytes + 1);
    c->data[0] = char('a' + i);
    c->end = 1;
    q.append(c);
  }
  iovec iov[3];
  EXPECT_EQ(q.fill_iov(iov, 3), 3u);
  EXPECT_EQ(static_cast<char*>(iov[2].iov_base)[0], 'c');
  q.clear(pool);
}

}  // namespace
}  // namespace ringgate::net

namespace ringgate::net {
namespace {

TEST(OutQueueControl, JumpsAheadOfQueuedData) {
  ChunkPool pool;
  OutQueue q;
  std::string big(ChunkPool::kChunkBytes - 4, 'd');
  ASSERT_TRUE(q.write(pool, big.data(), big.size()));
  ASSERT_TRUE(q.write(pool, "DATA2", 5));  // second chunk
  ASSERT_TRUE(q.write_control(pool, "PING", 4));
  EXPECT_EQ(drain_all(q).substr(0, 4), "PING") << "nothing was sent yet: the ping goes first";
  EXPECT_EQ(q.tally().bytes, big.size() + 5 + 4);
  q.clear(pool);
}

TEST(OutQueueControl, StaysBehindWhatASendHasTaken) {
  ChunkPool pool;
  OutQueue q;
  std::string big(ChunkPool::kChunkBytes - 2, 'a');
  ASSERT_TRUE(q.write(pool, big.data(), big.size()));  // chunk 1
  ASSERT_TRUE(q.write(pool, "BBBB", 4));               // chunk 2 (does not fit in chunk 1)
  ASSERT_NE(q.head()->next, nullptr);
  iovec iov[1];
  ASSERT_EQ(q.fill_iov(iov, 1), 1u);  // a send takes chunk 1 only
  ASSERT_TRUE(q.write_control(pool, "PONG", 4));
  // After the in-flight chunk, before chunk 2.
  q.consume(pool, big.size());
  EXPECT_EQ(drain_all(q), "PONGBBBB");
  q.clear(pool);
}

TEST(OutQueueControl, NeverSplitsAHalfSentFrame) {
  ChunkPool pool;
  OutQueue q;
  ASSERT_TRUE(q.write(pool, "FRAME-ONE", 9));
  q.lock_head();            // a plain send of the head chunk
  q.consume(pool, 3);       // ...that sent only "FRA"
  ASSERT_TRUE(q.write_control(pool, "PING", 4));
  EXPECT_EQ(drain_all(q), "ME-ONEPING") << "the rest of the half-sent frame goes first";
  q.consume(pool, 6);
  EXPECT_EQ(drain_all(q), "PING");
  q.consume(pool, 4);
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(pool.outstanding(), 0u);
}

TEST(OutQueueControl, ControlFramesKeepTheirOrder) {
  ChunkPool pool;
  OutQueue q;
  ASSERT_TRUE(q.write(pool, "DATA", 4));
  for (char c : std::string("0123456789")) ASSERT_TRUE(q.write_control(pool, &c, 1));
  EXPECT_EQ(drain_all(q), "0123456789DATA") << "ten pings in a row: ten pongs in the same order";
  q.clear(pool);
}

TEST(OutQueueControl, EmptyQueueControlBecomesTailForLaterWrites) {
  ChunkPool pool;
  OutQueue q;
  ASSERT_TRUE(q.write_control(pool, "PING", 4));
  ASSERT_TRUE(q.write(pool, "DATA", 4));
  ASSERT_TRUE(q.write_control(pool, "PONG", 4));  // (drain_all() would lock what it describes)
  EXPECT_EQ(drain_all(q), "PINGPONGDATA") << "data written after a control frame is still passed";
  q.clear(pool);
  EXPECT_EQ(pool.outstanding(), 0u);
}

}  // namespace
}  // namespace ringgate::net

namespace ringgate::net {
namespace {

std::string pong(char tag) { return std::string("\x8a\x01", 2) + tag; }

TEST(OutQueuePong, AFewPingsGetEveryPongInOrder) {
  ChunkPool pool;
  OutQueue q;
  ASSERT_TRUE(q.write(pool, "DATA", 4));
  std::string want;
  for (char c : std::string("abcdefghij")) {
    ASSERT_TRUE(q.write_pong(pool, pong(c).data(), 3));
    want += pong(c);
  }
  EXPECT_EQ(drain_all(q), want + "DATA") << "ten pings, ten pongs, in order (Autobahn 2.10)";
  EXPECT_EQ(q.tally().chunks, 2u);
  q.clear(pool);
}

TEST(OutQueuePong, PastAFullChunkTheLastPongIsReplacedByTheNewest) {
  ChunkPool pool;
  OutQueue q;
  const std::size_t fit = ChunkPool::kSmallChunkBytes / 3;
  std::string want;
  for (std::size_t i = 0; i < fit + 50; ++i) {
    const char c = char('A' + i % 50);
    ASSERT_TRUE(q.write_pong(pool, pong(c).data(), 3));
    if (i < fit - 1) want += pong(c);
  }
  want += pong(char('A' + (fit + 49) % 50));
  EXPECT_EQ(drain_all(q), want) << "the first pongs in order, then the newest in the last place";
  EXPECT_EQ(q.tally().chunks, 1u);
  q.clear(pool);
}

TEST(OutQueuePong, APongASendHasTakenIsNotReplaced) {
  ChunkPool pool;
  OutQueue q;
  ASSERT_TRUE(q.write_pong(pool, pong('a').data(), 3));
  ASSERT_TRUE(q.write(pool, "DATA", 4));
  iovec iov[1];
  ASSERT_EQ(q.fill_iov(iov, 1), 1u);  // the kernel holds the first pong now
  ASSERT_TRUE(q.write_pong(pool, pong('b').data(), 3));
  ASSERT_TRUE(q.write_pong(pool, pong('c').data(), 3));
  q.consume(pool, 3);
  EXPECT_EQ(drain_all(q), pong('b') + pong('c') + "DATA");
  q.clear(pool);
  EXPECT_EQ(pool.outstanding(), 0u);
}

TEST(OutQueuePong, AFullChunkEndingInOurPingGetsANewChunkForThePong) {
  ChunkPool pool;
  OutQueue q;
  const std::string ping("\x89\x00", 2);
  std::string want;
  while (want.size() + 3 + 2 <= ChunkPool::kSmallChunkBytes) {
    ASSERT_TRUE(q.write_pong(pool, pong('a').data(), 3));
    want += pong('a');
  }
  ASSERT_TRUE(q.write_control(pool, ping.data(), 2));  // our heartbeat ping ends the chunk
  want += ping;
  const std::string longer = std::string("\x8a\x05", 2) + "12345";
  ASSERT_TRUE(q.write_pong(pool, longer.data(), longer.size()));  // no room, last frame not a pong
  ASSERT_TRUE(q.write_pong(pool, pong('z').data(), 3));
  EXPECT_EQ(drain_all(q), want + longer + pong('z')) << "the ping is never replaced";
  q.clear(pool);
}

TEST(OutQueuePong, AFloodHoldsOneSmallChunk) {
  // 200,000 pings without the peer reading: one small chunk of pongs, the newest last.
  ChunkPool pool;
  OutQueue q;
  std::string big(ChunkPool::kChunkBytes, 'd');
  ASSERT_TRUE(q.write(pool, big.data(), big.size()));
  iovec iov[4];
  ASSERT_EQ(q.fill_iov(iov, 4), 1u);  // a send is stuck on the data
  for (int i = 0; i < 200000; ++i) {
    const std::string p = pong(char('a' + i % 26));
    ASSERT_TRUE(q.write_pong(pool, p.data(), p.size()));
  }
  EXPECT_EQ(q.tally().chunks, 2u);
  EXPECT_EQ(pool.outstanding(), 2u);
  const std::size_t pongs = ChunkPool::kSmallChunkBytes / 3 * 3;
  EXPECT_EQ(q.tally().bytes, big.size() + pongs);
  EXPECT_EQ(q.footprint(), big.size() + pongs + 2 * OutQueue::kChunkOverhead);
  q.consume(pool, big.size());
  EXPECT_EQ(drain_all(q).substr(pongs - 3), pong(char('a' + 199999 % 26))) << "the last ping is answered";
  EXPECT_LE(sizeof(OutQueue), 24u) << "every Connection embeds one";
  q.clear(pool);
}

TEST(OutQueueControl, ManyControlFramesShareSmallChunks) {
  ChunkPool pool;
  OutQueue q;
  ASSERT_TRUE(q.write(pool, "DATA", 4));
  std::string want;
  for (int i = 0; i < 1000; ++i) {
    const char c = char('0' + i % 10);
    ASSERT_TRUE(q.write_control(pool, &c, 1));
    want += c;
  }
  EXPECT_LE(q.tally().chunks, 1u + 1000 / ChunkPool::kSmallChunkBytes + 1) << "no chunk per frame";
  EXPECT_EQ(drain_all(q), want + "DATA") << "control frames keep their order across small chunks";
  q.clear(pool);
  EXPECT_EQ(pool.outstanding(), 0u);
}

TEST(OutQueueControl, DropUnsentKeepsWhatASendHolds) {
  ChunkPool pool;
  OutQueue q;
  ASSERT_TRUE(q.write(pool, "HELD", 4));
  q.lock_head();
  ASSERT_TRUE(q.write(pool, std::string(ChunkPool::kChunkBytes, 'x').data(), ChunkPool::kChunkBytes));
  ASSERT_TRUE(q.write_pong(pool, pong('a').data(), 3));
  q.drop_unsent(pool);
  EXPECT_EQ(q.tally().bytes, 4u);
  EXPECT_EQ(q.tally().chunks, 1u);
  ASSERT_TRUE(q.write_pong(pool, pong('b').data(), 3));  // the dropped pong is not reused
  ASSERT_TRUE(q.write(pool, "CLOSE", 5));
  q.consume(pool, 4);
  EXPECT_EQ(drain_all(q), pong('b') + "CLOSE");
  q.clear(pool);
  EXPECT_EQ(pool.outstanding(), 0u);
}

TEST(OutQueueControl, ConsumedControlChunkIsForgotten) {
  // The TLS path consumes whole head chunks without locking them first.
  ChunkPool pool;
  OutQueue q;
  ASSERT_TRUE(q.write_pong(pool, pong('a').data(), 3));
  q.consume(pool, 3);
  EXPECT_TRUE(q.empty());
  ASSERT_TRUE(q.write_pong(pool, pong('b').data(), 3));
  EXPECT_EQ(drain_all(q), pong('b'));
  q.clear(pool);
  EXPECT_EQ(pool.outstanding(), 0u);
}

}  // namespace
}  // namespace ringgate::net

namespace ringgate::net {
namespace {

TEST(OutQueueControl, ASendThatSentNothingKeepsAHalfSentFrameFirst) {
  // A send stops mid-frame, the next send (of the rest and more) is taken back having sent
  // nothing: the rest of the frame still goes before any control frame, and survives drop_unsent.
  ChunkPool pool;
  OutQueue q;
  ASSERT_TRUE(q.write(pool, "FRAME-ONE", 9));
  q.lock_head();
  q.consume(pool, 3);
  iovec iov[4];
  ASSERT_EQ(q.fill_iov(iov, 4), 1u);
  q.consume(pool, 0);  // taken back: nothing sent
  q.drop_unsent(pool);
  ASSERT_TRUE(q.write_control(pool, "PING", 4));
  EXPECT_EQ(drain_all(q), "ME-ONEPING");
  q.clear(pool);
  EXPECT_EQ(pool.outstanding(), 0u);
}

}  // namespace
}  // namespace ringgate::net

namespace ringgate::net {
namespace {

TEST(OutQueueFootprint, IsBytesPlusOverheadPerChunkThroughEveryOperation) {
  ChunkPool pool;
  OutQueue q;
  auto check = [&](const char* step) {
    const OutQueue::Tally t = q.tally();
    EXPECT_EQ(q.footprint(), t.bytes + t.chunks * OutQueue::kChunkOverhead) << step;
  };
  ASSERT_TRUE(q.write(pool, "DATA", 4));
  check("write");
  ASSERT_TRUE(q.write_pong(pool, pong('a').data(), 3));
  check("pong");
  ASSERT_TRUE(q.write_control(pool, "\x89\x00", 2));
  check("ping");
  const std::string longer = std::string("\x8a\x04", 2) + "abcd";
  ASSERT_TRUE(q.write_pong(pool, longer.data(), longer.size()));
  check("pong replaced");
  std::string big(ChunkPool::kChunkBytes, 'x');
  ASSERT_TRUE(q.write_stream(pool, big.data(), big.size()));
  check("stream");
  iovec iov[2];
  ASSERT_EQ(q.fill_iov(iov, 2), 2u);
  q.consume(pool, 5);
  check("partial consume");
  ASSERT_TRUE(q.write_pong(pool, pong('b').data(), 3));
  check("pong behind a half-sent chunk");
  q.drop_unsent(pool);
  check("drop_unsent");
  q.clear(pool);
  check("clear");
  EXPECT_EQ(pool.outstanding(), 0u);
}

}  // namespace
}  // namespace ringgate::net

namespace ringgate::net {
namespace {

TEST(OutQueueControl, AControlChunkQueuedBehindASendMovesUpWhenTheSendStopsEarly) {
  // A send holds A and B; a pong is queued behind them; the send ends inside A. B is unsent data
  // again, so the pong must move back in front of it, and the next pong must join it.
  ChunkPool pool;
  OutQueue q;
  std::string a(ChunkPool::kChunkBytes, 'a');
  ASSERT_TRUE(q.write(pool, a.data(), a.size()));
  ASSERT_TRUE(q.write(pool, "BBBB", 4));
  iovec iov[4];
  ASSERT_EQ(q.fill_iov(iov, 4), 2u);
  ASSERT_TRUE(q.write_pong(pool, pong('a').data(), 3));
  q.consume(pool, 10);
  ASSERT_TRUE(q.write_pong(pool, pong('b').data(), 3));
  EXPECT_EQ(drain_all(q), a.substr(10) + pong('a') + pong('b') + "BBBB");
  EXPECT_EQ(q.tally().chunks, 3u) << "the second pong joined the first";
  q.clear(pool);
  EXPECT_EQ(pool.outstanding(), 0u);
}

TEST(OutQueueControl, ControlChunksASendDidNotFinishGoBackInOrder) {
  ChunkPool pool;
  OutQueue q;
  ASSERT_TRUE(q.write_control(pool, "P1", 2));
  ASSERT_TRUE(q.write(pool, "DATA", 4));
  iovec iov[4];
  ASSERT_EQ(q.fill_iov(iov, 4), 2u);  // the send holds P1 and DATA
  ASSERT_TRUE(q.write_control(pool, "P2", 2));
  q.consume(pool, 0);  // taken back
  ASSERT_TRUE(q.write_control(pool, "P3", 2));
  EXPECT_EQ(drain_all(q), "P1P2P3DATA");
  q.clear(pool);
}

}  // namespace
}  // namespace ringgate::net

namespace ringgate::net {
namespace {

TEST(OutQueueControl, EveryControlChunkBehindATakenBackSendMovesUp) {
  // The control frames queued behind a stuck send fill more than one small chunk; the send is
  // taken back: all of them go back in front of the data, in order.
  ChunkPool pool;
  OutQueue q;
  ASSERT_TRUE(q.write(pool, "D1", 2));
  iovec iov[4];
  ASSERT_EQ(q.fill_iov(iov, 4), 1u);
  std::string pings;
  for (int i = 0; i < 150; ++i) {
    ASSERT_TRUE(q.write_control(pool, "\x89\x00", 2));
    pings += std::string("\x89\x00", 2);
  }
  ASSERT_TRUE(q.write_pong(pool, pong('a').data(), 3));
  std::string big(ChunkPool::kChunkBytes, 'x');
  ASSERT_TRUE(q.write(pool, big.data(), big.size()));  // D2, its own chunk
  q.consume(pool, 0);
  ASSERT_TRUE(q.write_pong(pool, pong('b').data(), 3));
  const std::string out = drain_all(q);
  const std::size_t d1 = out.find("D1");
  ASSERT_NE(d1, std::string::npos);
  EXPECT_EQ(out.substr(d1), "D1" + big) << "data after every control frame";
  EXPECT_EQ(out.size() - 2 - big.size(), pings.size() + 6) << "both pongs";
  EXPECT_EQ(out.substr(d1 - 6, 6), pong('a') + pong('b'));
  q.clear(pool);
  EXPECT_EQ(pool.outstanding(), 0u);
}

}  // namespace
}  // namespace ringgate::net

namespace ringgate::net {
namespace {

TEST(ChunkPool, TrimGivesBackHalfTheCacheBeyondWhatItKeeps) {
  ChunkPool pool;
  std::vector<Chunk*> taken;
  for (int i = 0; i < 600; ++i) taken.push_back(pool.get(100));
  for (Chunk* c : taken) pool.put(c);
  ASSERT_EQ(pool.cached(), 600u);
  pool.trim();
  EXPECT_EQ(pool.cached(), ChunkPool::kKeepCached + (600 - ChunkPool::kKeepCached) / 2);
  for (int i = 0; i < 20; ++i) pool.trim();
  EXPECT_EQ(pool.cached(), ChunkPool::kKeepCached) << "idle: the cache decays to what it keeps";
  EXPECT_EQ(pool.outstanding(), 0u);
}

}  // namespace
}  // namespace ringgate::net
