# The test suites of tests/vknmt_tests: one ctest each, and each prints
# "N passed, N failed". Adding a suite: a tests/test_NAME.c that defines
# th_register_NAME(), and its name here.
set(VKNMT_TEST_SUITES runtime elementwise softmax reduce gemm)

set(def "")
foreach(suite IN LISTS VKNMT_TEST_SUITES)
  string(APPEND def "SUITE(${suite})\n")
  add_test(NAME ${suite} COMMAND vknmt_tests ${suite})
  set_tests_properties(${suite} PROPERTIES
    ENVIRONMENT "XDG_CACHE_HOME=${CMAKE_BINARY_DIR}/test-cache")
endforeach()
file(CONFIGURE OUTPUT "${CMAKE_BINARY_DIR}/tests/suites.def" CONTENT "${def}")
target_include_directories(vknmt_tests PRIVATE "${CMAKE_BINARY_DIR}/tests")
