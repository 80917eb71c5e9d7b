#include "io/torch_pickle.hpp"

#include <caffe2/serialize/inline_container.h>

#include <cstring>

#include "vggt_lab/error.hpp"

namespace vggt_lab::pickle {
namespace {

const std::map<std::string, torch::Dtype>& storage_types() {
  static const std::map<std::string, torch::Dtype> types = {
      {"FloatStorage", torch::kFloat},   {"DoubleStorage", torch::kDouble},
      {"HalfStorage", torch::kHalf},     {"BFloat16Storage", torch::kBFloat16},
      {"LongStorage", torch::kLong},     {"IntStorage", torch::kInt},
      {"ShortStorage", torch::kShort},   {"CharStorage", torch::kChar},
      {"ByteStorage", torch::kByte},     {"BoolStorage", torch::kBool}};
  return types;
}

ValuePtr make(decltype(Value::v) v) { return std::make_shared<Value>(Value{std::move(v)}); }

torch::Dtype storage_dtype(const std::string& name) {
  auto it = storage_types().find(name);
  if (it == storage_types().end()) throw std::runtime_error("unsupported storage type " + name);
  return it->second;
}

std::string storage_name(torch::Dtype dtype) {
  for (const auto& [name, type] : storage_types()) {
    if (type == dtype) return name;
  }
  throw Error(std::string("cannot save tensors of type ") + c10::toString(dtype));
}

/// Writes protocol-2 pickle opcodes, as Python's torch.save does.
class Pickler {
 public:
  std::string out = std::string("\x80\x02", 2);

  void text(const std::string& s) {
    out += 'X';
    uint32_t n = static_cast<uint32_t>(s.size());
    out.append(reinterpret_cast<const char*>(&n), 4);
    out += s;
  }
  void integer(int64_t v) {
    if (v >= INT32_MIN && v <= INT32_MAX) {
      int32_t small = static_cast<int32_t>(v);
      out += 'J';
      out.append(reinterpret_cast<const char*>(&small), 4);
    } else {
      out += '\x8a';
      out += '\x08';
      out.append(reinterpret_cast<const char*>(&v), 8);
    }
  }
  void global(const std::string& module, const std::string& name) {
    out += 'c' + module + '\n' + name + '\n';
  }
  void int_tuple(c10::IntArrayRef values) {
    out += '(';
    for (int64_t v : values) integer(v);
    out += 't';
  }
  /// torch._utils._rebuild_tensor_v2(storage, 0, size, stride, False, OrderedDict())
  void tensor(const torch::Tensor& t, const std::string& key) {
    global("torch._utils", "_rebuild_tensor_v2");
    out += '(';
    out += '(';
    text("storage");
    global("torch", storage_name(t.scalar_type()));
    text(key);
    text("cpu");
    integer(t.numel());
    out += "tQ";
    integer(0);
    int_tuple(t.sizes());
    int_tuple(t.strides());
    out += '\x89';
    global("collections", "OrderedDict");
    out += ")R";
    out += "tR";
  }
};

class Unpickler {
 public:
  Unpickler(const std::string& data, caffe2::serialize::PyTorchStreamReader& archive)
      : data_(data), archive_(archive) {}

  ValuePtr run() {
    while (true) {
      uint8_t op = byte();
      if (op == '.') break;
      step(op);
    }
    if (stack_.size() != 1) throw std::runtime_error("malformed pickle stack");
    return stack_.back();
  }

 private:
  const std::string& data_;
  caffe2::serialize::PyTorchStreamReader& archive_;
  std::size_t pos_ = 0;
  std::vector<ValuePtr> stack_;
  std::vector<std::size_t> marks_;
  std::map<int64_t, ValuePtr> memo_;
  std::map<std::string, torch::Tensor> storages_;

  uint8_t byte() {
    if (pos_ >= data_.size()) throw std::runtime_error("pickle ends early");
    return static_cast<uint8_t>(data_[pos_++]);
  }
  std::string bytes(std::size_t n) {
    if (pos_ + n > data_.size()) throw std::runtime_error("pickle ends early");
    std::string out = data_.substr(pos_, n);
    pos_ += n;
    return out;
  }
  template <class T>
  T little() {
    T value{};
    std::string raw = bytes(sizeof(T));
    std::memcpy(&value, raw.data(), sizeof(T));
    return value;
  }
  std::string line() {
    std::size_t end = data_.find('\n', pos_);
    if (end == std::string::npos) throw std::runtime_error("pickle ends early");
    std::string out = data_.substr(pos_, end - pos_);
    pos_ = end + 1;
    return out;
  }
  ValuePtr pop() {
    if (stack_.empty()) throw std::runtime_error("malformed pickle: empty stack");
    ValuePtr v = stack_.back();
    stack_.pop_back();
    return v;
  }
  std::vector<ValuePtr> pop_mark() {
    if (marks_.empty()) throw std::runtime_error("malformed pickle: no mark");
    std::size_t mark = marks_.back();
    marks_.pop_back();
    std::vector<ValuePtr> items(stack_.begin() + mark, stack_.end());
    stack_.resize(mark);
    return items;
  }
  void push(decltype(Value::v) v) { stack_.push_back(make(std::move(v))); }

  static int64_t as_int(const ValuePtr& v) { return std::get<int64_t>(v->v); }
  static std::vector<int64_t> ints(const ValuePtr& v) {
    std::vector<int64_t> out;
    for (const auto& item : std::get<Tuple>(v->v).items) out.push_back(as_int(item));
    return out;
  }

  void step(uint8_t op);
  void reduce();
  void set_items(Dict& dict, const std::vector<ValuePtr>& items);
  ValuePtr storage(const ValuePtr& pid);
};

void Unpickler::set_items(Dict& dict, const std::vector<ValuePtr>& items) {
  for (std::size_t i = 0; i + 1 < items.size(); i += 2) dict.items.emplace_back(items[i], items[i + 1]);
}

ValuePtr Unpickler::storage(const ValuePtr& pid) {
  const auto& t = std::get<Tuple>(pid->v).items;
  if (t.size() < 5 || std::get<std::string>(t[0]->v) != "storage") {
    throw std::runtime_error("unsupported persistent id");
  }
  const std::string& type = std::get<Global>(t[1]->v).name;
  const std::string& key = std::get<std::string>(t[2]->v);
  auto found = storages_.find(key);
  if (found != storages_.end()) return make(found->second);
  auto [bytes_ptr, size] = archive_.getRecord("data/" + key);
  auto dtype = storage_dtype(type);
  int64_t numel = static_cast<int64_t>(size) / static_cast<int64_t>(c10::elementSize(dtype));
  auto tensor = torch::empty({numel}, torch::TensorOptions().dtype(dtype));
  std::memcpy(tensor.data_ptr(), bytes_ptr.get(), size);
  storages_[key] = tensor;
  return make(tensor);
}

void Unpickler::reduce() {
  ValuePtr args = pop();
  ValuePtr callable = pop();
  const Global* g = std::get_if<Global>(&callable->v);
  std::string name = g ? g->module + "." + g->name : "?";
  const auto* a = std::get_if<Tuple>(&args->v);
  if (name == "collections.OrderedDict") {
    push(Dict{});
  } else if (name == "torch._utils._rebuild_tensor_v2" && a && a->items.size() >= 4) {
    const auto& flat = std::get<torch::Tensor>(a->items[0]->v);
    auto tensor = flat.as_strided(ints(a->items[2]), ints(a->items[3]), as_int(a->items[1])).clone();
    push(tensor);
  } else if (name == "torch._utils._rebuild_parameter" && a && !a->items.empty()) {
    stack_.push_back(a->items[0]);
  } else {
    push(Opaque{name});
  }
}

void Unpickler::step(uint8_t op) {
  switch (op) {
    case 0x80: byte(); break;                       // PROTO
    case 0x95: bytes(8); break;                     // FRAME
    case '}': push(Dict{}); break;                  // EMPTY_DICT
    case ']': push(List{}); break;                  // EMPTY_LIST
    case ')': push(Tuple{}); break;                 // EMPTY_TUPLE
    case '(': marks_.push_back(stack_.size()); break;  // MARK
    case 't': push(Tuple{pop_mark()}); break;       // TUPLE
    case 'l': push(List{pop_mark()}); break;        // LIST
    case 0x85: { auto a = pop(); push(Tuple{{a}}); break; }
    case 0x86: { auto b = pop(), a = pop(); push(Tuple{{a, b}}); break; }
    case 0x87: { auto c = pop(), b = pop(), a = pop(); push(Tuple{{a, b, c}}); break; }
    case 'q': memo_[byte()] = stack_.back(); break;                 // BINPUT
    case 'r': memo_[little<uint32_t>()] = stack_.back(); break;     // LONG_BINPUT
    case 0x94: memo_[int64_t(memo_.size())] = stack_.back(); break; // MEMOIZE
    case 'h': stack_.push_back(memo_.at(byte())); break;            // BINGET
    case 'j': stack_.push_back(memo_.at(little<uint32_t>())); break;  // LONG_BINGET
    case 'J': push(int64_t(little<int32_t>())); break;              // BININT
    case 'K': push(int64_t(byte())); break;                         // BININT1
    case 'M': push(int64_t(little<uint16_t>())); break;             // BININT2
    case 0x8a: {                                                    // LONG1
      std::size_t n = byte();
      std::string raw = bytes(n);
      int64_t value = 0;
      for (std::size_t i = 0; i < n && i < 8; ++i) value |= int64_t(uint8_t(raw[i])) << (8 * i);
      if (n > 0 && n < 8 && (uint8_t(raw[n - 1]) & 0x80)) value -= int64_t(1) << (8 * n);
      push(value);
      break;
    }
    case 'G': {                                                     // BINFLOAT (big-endian)
      std::string raw = bytes(8);
      std::reverse(raw.begin(), raw.end());
      double value;
      std::memcpy(&value, raw.data(), 8);
      push(value);
      break;
    }
    case 'X': push(bytes(little<uint32_t>())); break;               // BINUNICODE
    case 0x8c: push(bytes(byte())); break;                          // SHORT_BINUNICODE
    case 0x8d: push(bytes(little<uint64_t>())); break;              // BINUNICODE8
    case 'U': push(bytes(byte())); break;                           // SHORT_BINSTRING
    case 'T': push(bytes(little<uint32_t>())); break;               // BINSTRING
    case 'C': push(bytes(byte())); break;                           // SHORT_BINBYTES
    case 'B': push(bytes(little<uint32_t>())); break;               // BINBYTES
    case 0x88: push(true); break;
    case 0x89: push(false); break;
    case 'N': push(None{}); break;
    case 'c': { std::string module = line(); push(Global{module, line()}); break; }
    case 0x93: {                                                    // STACK_GLOBAL
      auto name = pop(), module = pop();
      push(Global{std::get<std::string>(module->v), std::get<std::string>(name->v)});
      break;
    }
    case 'R': reduce(); break;
    case 0x81: reduce(); break;                                     // NEWOBJ (cls, args)
    case 'b': pop(); break;                                         // BUILD: state is ignored
    case 'Q': stack_.push_back(storage(pop())); break;              // BINPERSID
    case 's': {                                                     // SETITEM
      auto value = pop(), key = pop();
      std::get<Dict>(stack_.back()->v).items.emplace_back(key, value);
      break;
    }
    case 'u': { auto items = pop_mark(); set_items(std::get<Dict>(stack_.back()->v), items); break; }
    case 'a': { auto item = pop(); std::get<List>(stack_.back()->v).items.push_back(item); break; }
    case 'e': {
      auto items = pop_mark();
      auto& list = std::get<List>(stack_.back()->v).items;
      list.insert(list.end(), items.begin(), items.end());
      break;
    }
    default: {
      char hex[8];
      std::snprintf(hex, sizeof hex, "0x%02x", op);
      throw std::runtime_error(std::string("unsupported pickle opcode ") + hex);
    }
  }
}

}  // namespace

ValuePtr load(const std::filesystem::path& file) {
  try {
    caffe2::serialize::PyTorchStreamReader archive(file.string());
    auto [data_ptr, size] = archive.getRecord("data.pkl");
    std::string data(static_cast<const char*>(data_ptr.get()), size);
    return Unpickler(data, archive).run();
  } catch (const c10::Error& e) {
    throw InputError(file.string() + ": not a readable torch.save file (" +
                     e.what_without_backtrace() + ")");
  } catch (const std::exception& e) {
    throw InputError(file.string() + ": not a readable torch.save file (" + e.what() + ")");
  }
}

std::string save_state_dict(const std::vector<std::pair<std::string, torch::Tensor>>& tensors) {
  std::string bytes;
  caffe2::serialize::PyTorchStreamWriter writer([&](const void* data, size_t size) {
    bytes.append(static_cast<const char*>(data), size);
    return size;
  });
  Pickler pickler;
  pickler.out += "}(";
  std::vector<torch::Tensor> storages;
  for (const auto& [name, tensor] : tensors) {
    auto cpu = tensor.detach().to(torch::kCPU).contiguous();
    std::string key = std::to_string(storages.size());
    pickler.text(name);
    pickler.tensor(cpu, key);
    storages.push_back(cpu);
  }
  pickler.out += "u.";
  writer.writeRecord("data.pkl", pickler.out.data(), pickler.out.size());
  for (std::size_t i = 0; i < storages.size(); ++i) {
    writer.writeRecord("data/" + std::to_string(i), storages[i].data_ptr(), storages[i].nbytes());
  }
  writer.writeEndOfFile();
  return bytes;
}

}  // namespace vggt_lab::pickle
