#include "io/event_file.hpp"

#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <iterator>

#include "io/checksum.hpp"
#include "vggt_lab/error.hpp"

namespace vggt_lab {
namespace {

// Protocol-buffer wire types.
constexpr int kVarint = 0, kFixed64 = 1, kBytes = 2, kFixed32 = 5;

std::uint32_t masked_crc(const std::string& bytes) {
  const std::uint32_t crc = crc32c(bytes.data(), bytes.size());
  return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}

template <class T>
std::string little_endian(T value) {  // x86 and ARM are little-endian
  std::string out(sizeof value, '\0');
  std::memcpy(out.data(), &value, sizeof value);
  return out;
}

std::string varint(std::uint64_t value) {
  std::string out;
  do {
    out += char((value & 0x7f) | (value >= 0x80 ? 0x80 : 0));
    value >>= 7;
  } while (value != 0);
  return out;
}

std::string key(int field, int wire) { return varint(std::uint64_t(field) << 3 | std::uint64_t(wire)); }
std::string bytes_field(int field, const std::string& bytes) { return key(field, kBytes) + varint(bytes.size()) + bytes; }

double now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

/// Event{wall_time = 1, step = 2} and the rest of its fields, encoded.
std::string event(std::int64_t step, const std::string& fields) {
  return key(1, kFixed64) + little_endian(now()) + key(2, kVarint) + varint(std::uint64_t(step)) + fields;
}

std::string host_name() {
  char name[256] = {};
  return gethostname(name, sizeof name - 1) == 0 ? name : "localhost";
}

/// Reads protocol-buffer fields from a byte range.
class Fields {
 public:
  Fields(std::string bytes, std::string where) : bytes_(std::move(bytes)), where_(std::move(where)) {}
  bool next(int& field, int& wire) {
    if (at_ >= bytes_.size()) return false;
    const std::uint64_t k = read_varint();
    field = int(k >> 3);
    wire = int(k & 7);
    return true;
  }
  std::uint64_t read_varint() {
    std::uint64_t value = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      const auto byte = std::uint8_t(take(1)[0]);
      value |= std::uint64_t(byte & 0x7f) << shift;
      if (!(byte & 0x80)) return value;
    }
    throw Error(where_ + ": a varint runs past 10 bytes");
  }
  template <class T>
  T read_fixed() {
    T value;
    std::memcpy(&value, take(sizeof value).data(), sizeof value);
    return value;
  }
  std::string read_bytes() { return take(read_varint()); }
  void skip(int wire) {
    if (wire == kVarint) read_varint();
    else if (wire == kFixed64) take(8);
    else if (wire == kBytes) read_bytes();
    else if (wire == kFixed32) take(4);
    else throw Error(where_ + ": unknown wire type " + std::to_string(wire));
  }

 private:
  std::string take(std::size_t n) {
    if (n > bytes_.size() - at_) throw Error(where_ + ": a field runs past the end of its message");
    std::string out = bytes_.substr(at_, n);
    at_ += n;
    return out;
  }
  std::string bytes_;
  std::string where_;
  std::size_t at_ = 0;
};

/// Summary.Value{tag = 1, simple_value = 2}.
void read_value(const std::string& bytes, ScalarEvent event, const std::string& where, std::vector<ScalarEvent>& out) {
  Fields fields(bytes, where);
  bool scalar = false;
  for (int field, wire; fields.next(field, wire);) {
    if (field == 1 && wire == kBytes) {
      event.tag = fields.read_bytes();
    } else if (field == 2 && wire == kFixed32) {
      event.value = fields.read_fixed<float>();
      scalar = true;
    } else {
      fields.skip(wire);
    }
  }
  if (scalar) out.push_back(std::move(event));
}

/// Event{wall_time = 1, step = 2, summary = 5 {value = 1}}.
void read_event(const std::string& bytes, const std::string& where, std::vector<ScalarEvent>& out) {
  Fields fields(bytes, where);
  ScalarEvent event;
  std::vector<std::string> values;
  for (int field, wire; fields.next(field, wire);) {
    if (field == 1 && wire == kFixed64) {
      event.wall_time = fields.read_fixed<double>();
    } else if (field == 2 && wire == kVarint) {
      event.step = std::int64_t(fields.read_varint());
    } else if (field == 5 && wire == kBytes) {
      Fields summary(fields.read_bytes(), where);
      for (int f, w; summary.next(f, w);) {
        if (f == 1 && w == kBytes) values.push_back(summary.read_bytes());
        else summary.skip(w);
      }
    } else {
      fields.skip(wire);
    }
  }
  for (const auto& value : values) read_value(value, event, where, out);
}

}  // namespace

EventWriter::EventWriter(const std::filesystem::path& dir, std::int64_t purge_step) {
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(
      std::chrono::system_clock::now().time_since_epoch()).count();
  file_ = dir / ("events.out.tfevents." + std::to_string(seconds) + "." + host_name());
  for (int k = 1; std::filesystem::exists(file_); ++k) {  // two writers in one second
    file_ = dir / ("events.out.tfevents." + std::to_string(seconds) + "." + host_name() + "." + std::to_string(k));
  }
  out_.open(file_, std::ios::binary);
  if (!out_) cannot_write();
  record(event(purge_step, bytes_field(3, "brain.Event:2")));  // file_version
  if (purge_step > 0) record(event(purge_step, bytes_field(7, key(1, kVarint) + varint(1))));  // SessionLog START
  flush();
}

void EventWriter::scalar(const std::string& tag, std::int64_t step, double value) {
  const std::string simple = bytes_field(1, tag) + key(2, kFixed32) + little_endian(float(value));
  record(event(step, bytes_field(5, bytes_field(1, simple))));
}

void EventWriter::flush() {
  if (!out_.flush()) cannot_write();
}

void EventWriter::record(const std::string& event) {
  const std::string length = little_endian(std::uint64_t(event.size()));
  out_ << length << little_endian(masked_crc(length)) << event << little_endian(masked_crc(event));
  if (!out_) cannot_write();
}

void EventWriter::cannot_write() const {
  throw Error("cannot write " + file_.string() + " (" + std::strerror(errno) + ")");
}

std::vector<ScalarEvent> read_scalar_events(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw Error("cannot read " + file.string());
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<ScalarEvent> out;
  std::size_t at = 0;
  for (int index = 0; at < bytes.size(); ++index) {
    const std::string where = file.string() + ": record " + std::to_string(index);
    if (bytes.size() - at < 12) throw Error(where + " is cut off");
    const std::string length = bytes.substr(at, 8);
    std::uint32_t crc;
    std::memcpy(&crc, bytes.data() + at + 8, 4);
    if (crc != masked_crc(length)) throw Error(where + ": its length fails its checksum");
    std::uint64_t size;
    std::memcpy(&size, length.data(), 8);
    if (size > bytes.size() - at - 12 || bytes.size() - at - 12 - size < 4) throw Error(where + " is cut off");
    const std::string data = bytes.substr(at + 12, size);
    std::memcpy(&crc, bytes.data() + at + 12 + size, 4);
    if (crc != masked_crc(data)) throw Error(where + ": its message fails its checksum");
    read_event(data, where, out);
    at += 12 + size + 4;
  }
  return out;
}

}  // namespace vggt_lab
