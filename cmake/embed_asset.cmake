# Writes OUTPUT, a C++ source defining `const std::string_view NAME` with the bytes of INPUT, so
# the web page is part of the binary and needs no files at run time.
file(READ "${INPUT}" content)
string(FIND "${content}" ")TOLLGATE_ASSET\"" clash)
if(NOT clash EQUAL -1)
  message(FATAL_ERROR "${INPUT} contains the raw-string delimiter")
endif()
file(WRITE "${OUTPUT}.tmp" "// Generated from ${INPUT} by cmake/embed_asset.cmake. Do not edit.\n#include \"daemon/web_assets.h\"\nnamespace tollgate {\nconst std::string_view ${NAME} = R\"TOLLGATE_ASSET(${content})TOLLGATE_ASSET\";\n}  // namespace tollgate\n")
file(COPY_FILE "${OUTPUT}.tmp" "${OUTPUT}" ONLY_IF_DIFFERENT)
