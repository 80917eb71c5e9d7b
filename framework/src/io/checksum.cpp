#include "io/checksum.hpp"

#include <array>
#include <cstring>
#include <fstream>
#include <vector>

#include "vggt_lab/error.hpp"

namespace vggt_lab {
namespace {

constexpr std::uint32_t kPolynomial = 0x82F63B78u;  // reflected

std::array<std::uint32_t, 256> make_table() {
  std::array<std::uint32_t, 256> table{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ kPolynomial : c >> 1;
    table[i] = c;
  }
  return table;
}

std::uint32_t crc_table(const unsigned char* p, std::size_t n, std::uint32_t c) {
  static const std::array<std::uint32_t, 256> table = make_table();
  for (std::size_t i = 0; i < n; ++i) c = table[(c ^ p[i]) & 0xFFu] ^ (c >> 8);
  return c;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) std::uint32_t crc_sse42(const unsigned char* p, std::size_t n, std::uint32_t c) {
  std::uint64_t c64 = c;
  for (; n >= 8; n -= 8, p += 8) {
    std::uint64_t word;
    std::memcpy(&word, p, 8);
    c64 = __builtin_ia32_crc32di(c64, word);
  }
  c = std::uint32_t(c64);
  for (; n > 0; --n, ++p) c = __builtin_ia32_crc32qi(c, *p);
  return c;
}

bool has_sse42() {
  static const bool yes = __builtin_cpu_supports("sse4.2");
  return yes;
}
#endif

}  // namespace

std::uint32_t crc32c(const void* data, std::size_t size, std::uint32_t crc) {
  const auto* p = static_cast<const unsigned char*>(data);
  std::uint32_t c = ~crc;
#if defined(__x86_64__)
  if (has_sse42()) return ~crc_sse42(p, size, c);
#endif
  return ~crc_table(p, size, c);
}

std::uint32_t file_crc32c(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw Error("cannot read " + file.string());
  std::vector<char> buffer(std::size_t(1) << 22);
  std::uint32_t crc = 0;
  while (in) {
    in.read(buffer.data(), std::streamsize(buffer.size()));
    crc = crc32c(buffer.data(), std::size_t(in.gcount()), crc);
  }
  if (in.bad()) throw Error("cannot read " + file.string());
  return crc;
}

}  // namespace vggt_lab
