# The test suites of tests/vknmt_tests, one ctest each; each prints
# "N passed, N failed". A suite is a file tests/test_NAME.c that defines
# th_register_NAME(): found here by its name, nothing else to edit.
file(GLOB suite_files CONFIGURE_DEPENDS "${CMAKE_CURRENT_SOURCE_DIR}/tests/test_*.c")
list(SORT suite_files)
set(def "")
foreach(f IN LISTS suite_files)
  get_filename_component(stem "${f}" NAME_WE)
  string(REGEX REPLACE "^test_" "" suite "${stem}")
  string(APPEND def "SUITE(${suite})\n")
  add_test(NAME ${suite} COMMAND vknmt_tests ${suite})
  set_tests_properties(${suite} PROPERTIES
    ENVIRONMENT "XDG_CACHE_HOME=${CMAKE_BINARY_DIR}/test-cache;VKNMT_SHARED=${CMAKE_CURRENT_SOURCE_DIR}/../shared")
endforeach()
file(CONFIGURE OUTPUT "${CMAKE_BINARY_DIR}/tests/suites.def" CONTENT "${def}")
target_include_directories(vknmt_tests PRIVATE "${CMAKE_BINARY_DIR}/tests")
target_compile_definitions(vknmt_tests PRIVATE VKNMT_SHARED_DEFAULT="${CMAKE_CURRENT_SOURCE_DIR}/../shared")
target_compile_definitions(vknmt_tests PRIVATE VKNMT_BIN="$<TARGET_FILE:vknmt>")
add_dependencies(vknmt_tests vknmt)
