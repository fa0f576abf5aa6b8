#pragma once
// A validator for the subset of JSON Schema (draft 2020-12) that ctsim's report schemas use:
// type (a name or a list; "integer" is a number without a fraction), properties, required,
// additionalProperties (false or a schema), items, minItems, maxItems, enum, const, minimum,
// maximum, minLength, and $ref to "#/$defs/NAME". Other keywords ($schema, $id, title,
// description, $comment, ...) are annotations and ignored; an unknown keyword is an error, so
// the schema cannot silently use more than is checked.

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace ctsim::reports {

// Every violation of `schema` by `doc`, as "JSON-pointer: what" (empty: valid). A schema that
// uses a keyword outside the subset gives one error naming it.
std::vector<std::string> validateJson(const nlohmann::json& schema, const nlohmann::json& doc);

}  // namespace ctsim::reports
