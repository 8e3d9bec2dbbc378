// Bounded JSON input (see bitscape/json_input.h). The depth and key checks run in nlohmann's
// parser callback, which is called with the nesting depth at every object/array start and with
// every key, so a hostile document is refused before it is built.
#include "bitscape/json_input.h"

#include <cmath>

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <unordered_set>
#include <vector>

#include "bitscape/error.h"

namespace bitscape {
namespace {

using nlohmann::json;

struct JsonRefusal {
  std::string problem;
};

// nlohmann's messages start with "[json.exception.parse_error.101] " and may quote the last
// token read, which can be long or hold control characters: keep one short line.
std::string clean_message(std::string what) {
  const size_t bracket = what.find("] ");
  if (what.rfind("[json.exception.", 0) == 0 && bracket != std::string::npos)
    what = what.substr(bracket + 2);
  std::string out;
  for (char ch : what) {
    const unsigned char c = static_cast<unsigned char>(ch);
    out += c < 0x20 ? ' ' : ch;
  }
  constexpr size_t kMax = 200;
  if (out.size() > kMax) {
    size_t cut = kMax;
    while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xC0) == 0x80) --cut;
    out = out.substr(0, cut) + "...";
  }
  return out;
}

}  // namespace

nlohmann::json json_number_or_null(double x) {
  return std::isfinite(x) ? nlohmann::json(x) : nlohmann::json(nullptr);
}

double json_number(const nlohmann::json& object, const char* key) {
  return object.contains(key) && object[key].is_number() ? object[key].get<double>() : std::nan("");
}

std::string quote_for_message(std::string_view s, size_t max_chars) {
  std::string out = "'";
  size_t shown = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if (shown >= max_chars) {
      // Back off to a UTF-8 boundary so the message stays valid text.
      while (!out.empty() && (static_cast<unsigned char>(out.back()) & 0xC0) == 0x80) out.pop_back();
      if (!out.empty() && (static_cast<unsigned char>(out.back()) & 0xC0) == 0xC0) out.pop_back();
      out += "...";
      break;
    }
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
    ++shown;
  }
  return out + "'";
}

std::string describe_json(const json& v, size_t max_chars) {
  switch (v.type()) {
    case json::value_t::array:
      return "array of " + std::to_string(v.size()) + (v.size() == 1 ? " value" : " values");
    case json::value_t::object:
      return "object of " + std::to_string(v.size()) + (v.size() == 1 ? " member" : " members");
    case json::value_t::string:
      return "string " + quote_for_message(v.get_ref<const std::string&>(), max_chars);
    default: {
      // Scalars print in a few characters.
      std::string text = v.dump(-1, ' ', false, json::error_handler_t::replace);
      if (text.size() > max_chars) text = text.substr(0, max_chars) + "...";
      return std::string(v.type_name()) + " " + text;
    }
  }
}

json parse_json(std::string_view text, const std::string& path, const std::string& what,
                const JsonLimits& limits) {
  const std::string prefix = what.empty() ? "" : what + ": ";
  // One set of keys per open object (only when keys must be unique).
  std::vector<std::unordered_set<std::string>> keys;
  json::parser_callback_t callback = [&](int depth, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start:
      case json::parse_event_t::array_start:
        // `depth` counts the enclosing containers: the top-level value starts at 0.
        if (depth >= limits.max_depth)
          throw JsonRefusal{"nested deeper than " + std::to_string(limits.max_depth) + " levels"};
        if (event == json::parse_event_t::object_start && limits.unique_keys) keys.emplace_back();
        break;
      case json::parse_event_t::object_end:
        if (limits.unique_keys && !keys.empty()) keys.pop_back();
        break;
      case json::parse_event_t::key:
        if (limits.unique_keys && !keys.empty() &&
            !keys.back().insert(parsed.get_ref<const std::string&>()).second)
          throw JsonRefusal{"duplicate key " +
                            quote_for_message(parsed.get_ref<const std::string&>()) +
                            " in one object"};
        break;
      default:
        break;
    }
    return true;
  };
  try {
    return json::parse(text.begin(), text.end(), callback);
  } catch (const JsonRefusal& r) {
    throw InputError(path, prefix + r.problem);
  } catch (const json::exception& e) {
    throw InputError(path, prefix + "malformed JSON: " + clean_message(e.what()));
  }
}

std::string read_file_limited(const std::string& path, uint64_t max_bytes, const std::string& kind) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    throw InputError(path, "cannot open " + kind + ": " +
                               (errno == ENOENT ? std::string("no such file") : std::strerror(errno)));
  if (S_ISDIR(st.st_mode)) throw InputError(path, "is a directory, expected a " + kind);
  // A device (/dev/zero, /dev/urandom) never ends; pipes and sockets are read up to the limit.
  if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode))
    throw InputError(path, "is a device, expected a " + kind);
  if (S_ISREG(st.st_mode) && static_cast<uint64_t>(st.st_size) > max_bytes)
    throw InputError(path, kind + " of " + std::to_string(st.st_size) +
                               " bytes is larger than the " + std::to_string(max_bytes >> 20) +
                               " MiB such a file may have");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path, "cannot open " + kind + ": " + std::strerror(errno));
  std::string text;
  // Read in pieces so that a special file (a FIFO, /dev/zero) cannot grow past the limit either.
  char buf[1 << 16];
  while (in) {
    in.read(buf, sizeof buf);
    text.append(buf, static_cast<size_t>(in.gcount()));
    if (text.size() > max_bytes)
      throw InputError(path, kind + " is larger than the " + std::to_string(max_bytes >> 20) +
                                 " MiB such a file may have");
  }
  if (in.bad()) throw InputError(path, "cannot read " + kind);
  return text;
}

}  // namespace bitscape
