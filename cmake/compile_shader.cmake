# Compiles one GLSL compute shader variant to SPIR-V, validates and optimises
# it, and writes it as a C array. Run by the build (cmake -P), one variant each.
# Inputs: GLSLANG SPIRV_VAL SPIRV_OPT SOURCE DEFINES (comma list) NAME OUT_C DEPFILE WORK
string(REPLACE "," ";" DEFINES "${DEFINES}")
set(spv_raw "${WORK}/${NAME}.raw.spv")
set(spv_opt "${WORK}/${NAME}.spv")
set(define_args "")
foreach(d IN LISTS DEFINES)
  list(APPEND define_args "-D${d}")
endforeach()
# run_step(WHAT COMMAND...): runs a tool, stops the build with its output if it fails.
function(run_step what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${what} (${NAME}, from ${SOURCE}):\n${out}")
  endif()
endfunction()

run_step("glslangValidator failed" "${GLSLANG}" -V --target-env vulkan1.1 ${define_args}
         --depfile "${DEPFILE}.raw" -o "${spv_raw}" "${SOURCE}")
run_step("spirv-val rejected the shader" "${SPIRV_VAL}" --target-env vulkan1.1 "${spv_raw}")
run_step("spirv-opt failed" "${SPIRV_OPT}" -O "${spv_raw}" -o "${spv_opt}")
run_step("spirv-val rejected the optimised shader" "${SPIRV_VAL}" --target-env vulkan1.1 "${spv_opt}")

# glslang names its output file as the target; the build knows the C file.
file(READ "${DEPFILE}.raw" dep)
string(REGEX REPLACE "^[^:]*:" "${OUT_C}:" dep "${dep}")
file(WRITE "${DEPFILE}" "${dep}")

file(READ "${spv_opt}" hex HEX)
string(LENGTH "${hex}" hexlen)
math(EXPR nbytes "${hexlen} / 2")
# SPIR-V is a stream of little-endian 32-bit words; emit them as uint32_t so
# the array is correctly aligned for vkCreateShaderModule.
string(REGEX REPLACE "(..)(..)(..)(..)" "0x\\4\\3\\2\\1u," words "${hex}")
string(REGEX REPLACE "((0x[0-9a-f]+u,){8})" "\\1\n" words "${words}")
file(WRITE "${OUT_C}"
"/* Generated from ${SOURCE} by cmake/compile_shader.cmake. Do not edit. */\n"
"#include <stddef.h>\n#include <stdint.h>\n"
"const uint32_t vknmt_spirv_${NAME}[] = {\n${words}\n};\n"
"const size_t vknmt_spirv_${NAME}_size = ${nbytes};\n")
