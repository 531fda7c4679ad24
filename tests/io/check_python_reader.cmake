# ctest driver: mhc_tests writes a fixture file, the standard-library Python reader must parse it as expected.
# Usage: cmake -DMHC_TESTS=<mhc_tests> -DPYTHON=<python3> -DREADER=<read_safetensors.py> -DWORK_DIR=<dir> -P <this>
set(file "${WORK_DIR}/fixture.safetensors")
file(MAKE_DIRECTORY "${WORK_DIR}")
file(REMOVE "${file}")

set(ENV{MHC_SAFETENSORS_OUT} "${file}")
execute_process(COMMAND "${MHC_TESTS}" "[safetensors_python]" RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "writing the fixture failed (${rc}):\n${out}")
endif()

execute_process(COMMAND "${PYTHON}" "${READER}" "${file}" RESULT_VARIABLE rc OUTPUT_VARIABLE got ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "read_safetensors.py failed (${rc}):\n${err}")
endif()

# Must match the fixture test "safetensors fixture for the Python reader" in test_safetensors.cpp.
set(expected [=[
weights F32 [2, 3] sum=7.5
scale F32 [] sum=2.25
empty F32 [0, 4] sum=0.0
tokens I32 [4]
norm BF16 [3]
moments F64 [2, 1, 2]
step=42
]=])
string(STRIP "${expected}" expected)
string(STRIP "${got}" got)
if(NOT got STREQUAL expected)
  message(FATAL_ERROR "read_safetensors.py printed:\n${got}\nexpected:\n${expected}")
endif()
message(STATUS "read_safetensors.py agrees:\n${got}")
