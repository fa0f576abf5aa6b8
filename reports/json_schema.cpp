#include "reports/json_schema.h"

#include <set>

namespace ctsim::reports {
namespace {

using nlohmann::json;

class Validator {
 public:
  explicit Validator(const json& root) : root_(root) {}

  void check(const json& s, const json& v, const std::string& at) {
    if (s.is_boolean()) {
      if (!s.get<bool>()) fail(at, "no value allowed here");
      return;
    }
    if (!s.is_object()) {
      fail(at, "schema is not an object");
      return;
    }
    static const std::set<std::string> kAnnotations = {
        "$schema", "$id", "title", "description", "$comment", "$defs", "examples", "default"};
    static const std::set<std::string> kKnown = {
        "type",  "properties", "required", "additionalProperties",
        "items", "minItems",   "maxItems", "enum",
        "const", "minimum",    "maximum",  "minLength",
        "$ref"};
    for (auto it = s.begin(); it != s.end(); ++it) {
      if (!kAnnotations.count(it.key()) && !kKnown.count(it.key())) {
        fail(at, "schema keyword '" + it.key() + "' is not supported by this validator");
      }
    }
    if (s.contains("$ref")) {
      std::string ref = s["$ref"].get<std::string>();
      const std::string prefix = "#/$defs/";
      if (ref.rfind(prefix, 0) != 0 || !root_.contains("$defs") ||
          !root_["$defs"].contains(ref.substr(prefix.size()))) {
        fail(at, "unresolvable $ref " + ref);
        return;
      }
      check(root_["$defs"][ref.substr(prefix.size())], v, at);
    }
    if (s.contains("type") && !typeMatches(s["type"], v)) {
      fail(at, "expected type " + s["type"].dump() + ", got " + std::string(v.type_name()));
      return;
    }
    if (s.contains("enum")) {
      bool found = false;
      for (const json& e : s["enum"]) found = found || e == v;
      if (!found) fail(at, v.dump() + " is not one of " + s["enum"].dump());
    }
    if (s.contains("const") && s["const"] != v) fail(at, "expected " + s["const"].dump());
    if (v.is_number()) {
      if (s.contains("minimum") && v.get<double>() < s["minimum"].get<double>()) {
        fail(at, v.dump() + " is below the minimum " + s["minimum"].dump());
      }
      if (s.contains("maximum") && v.get<double>() > s["maximum"].get<double>()) {
        fail(at, v.dump() + " is above the maximum " + s["maximum"].dump());
      }
    }
    if (v.is_string() && s.contains("minLength") &&
        v.get<std::string>().size() < s["minLength"].get<size_t>()) {
      fail(at, "string shorter than " + s["minLength"].dump());
    }
    if (v.is_object()) {
      if (s.contains("required")) {
        for (const json& r : s["required"]) {
          if (!v.contains(r.get<std::string>())) fail(at, "missing property " + r.dump());
        }
      }
      const json* props = s.contains("properties") ? &s["properties"] : nullptr;
      for (auto it = v.begin(); it != v.end(); ++it) {
        std::string child = at + "/" + it.key();
        if (props != nullptr && props->contains(it.key())) {
          check((*props)[it.key()], it.value(), child);
        } else if (s.contains("additionalProperties")) {
          const json& ap = s["additionalProperties"];
          if (ap.is_boolean() && !ap.get<bool>()) {
            fail(child, "property not allowed");
          } else {
            check(ap, it.value(), child);
          }
        }
      }
    }
    if (v.is_array()) {
      if (s.contains("minItems") && v.size() < s["minItems"].get<size_t>()) {
        fail(at, "fewer than " + s["minItems"].dump() + " items");
      }
      if (s.contains("maxItems") && v.size() > s["maxItems"].get<size_t>()) {
        fail(at, "more than " + s["maxItems"].dump() + " items");
      }
      if (s.contains("items")) {
        for (size_t i = 0; i < v.size(); ++i) check(s["items"], v[i], at + "/" + std::to_string(i));
      }
    }
  }

  std::vector<std::string> errors;

 private:
  static bool oneType(const std::string& t, const json& v) {
    if (t == "object") return v.is_object();
    if (t == "array") return v.is_array();
    if (t == "string") return v.is_string();
    if (t == "boolean") return v.is_boolean();
    if (t == "null") return v.is_null();
    if (t == "number") return v.is_number();
    if (t == "integer") {
      if (v.is_number_integer()) return true;
      if (!v.is_number_float()) return false;
      double d = v.get<double>();
      return d == double(int64_t(d));
    }
    return false;
  }
  static bool typeMatches(const json& type, const json& v) {
    if (type.is_string()) return oneType(type.get<std::string>(), v);
    for (const json& t : type) {
      if (oneType(t.get<std::string>(), v)) return true;
    }
    return false;
  }
  void fail(const std::string& at, const std::string& what) {
    errors.push_back((at.empty() ? "/" : at) + ": " + what);
  }

  const json& root_;
};

}  // namespace

std::vector<std::string> validateJson(const nlohmann::json& schema, const nlohmann::json& doc) {
  Validator v(schema);
  v.check(schema, doc, "");
  return v.errors;
}

}  // namespace ctsim::reports
