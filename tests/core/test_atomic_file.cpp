// The one atomic writer (core/atomic_file.hpp): content replaced whole, and on every failure the target untouched
// and no temporary file left.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "core/atomic_file.hpp"
#include "support/temp_dir.hpp"

using namespace mhc;
namespace fs = std::filesystem;

namespace {

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

}  // namespace

TEST_CASE("write_file_atomic creates and replaces a file whole", "[core]") {
  const test::TempDir dir("atomic");
  const std::string path = dir.file("a.json");
  write_file_atomic(path, std::string("first\n"));
  CHECK(slurp(path) == "first\n");
  write_file_atomic(path, [](AtomicFileWriter& w) {
    w.write("sec");
    const char tail[] = {'o', 'n', 'd', '\0', 'x'};
    w.write(tail, sizeof tail);
  });
  CHECK(slurp(path) == std::string("second\0x", 8));
  CHECK_FALSE(fs::exists(path + ".tmp"));
}

TEST_CASE("write_file_atomic failures: IoError naming the file, target untouched, no temporary left", "[core]") {
  const test::TempDir dir("atomic_fail");
  const std::string path = dir.file("keep.txt");
  write_file_atomic(path, std::string("old"));

  SECTION("the content producer throws") {
    CHECK_THROWS_WITH(write_file_atomic(path,
                                        [](AtomicFileWriter& w) {
                                          w.write("partial new content");
                                          throw std::runtime_error("producer failed");
                                        }),
                      "producer failed");
    CHECK(slurp(path) == "old");
    CHECK_FALSE(fs::exists(path + ".tmp"));
  }
  SECTION("the directory does not exist") {
    const std::string missing = dir.file("no/such/dir/x.txt");
    CHECK_THROWS_AS(write_file_atomic(missing, std::string("x")), IoError);
    CHECK_THROWS_WITH(write_file_atomic(missing, std::string("x")), Catch::Contains(missing));
  }
  SECTION("the target is a directory: the rename fails") {
    const std::string target = dir.file("sub");
    fs::create_directories(fs::path(target) / "child");
    CHECK_THROWS_WITH(write_file_atomic(target, std::string("x")),
                      Catch::Contains("cannot rename '" + target + ".tmp' to '" + target + "'"));
    CHECK(fs::is_directory(target));
    CHECK_FALSE(fs::exists(target + ".tmp"));
  }
}

TEST_CASE("fsync_directory names a directory it cannot open", "[core]") {
  const test::TempDir dir("atomic_dir");
  CHECK_NOTHROW(fsync_directory(dir.str()));
  CHECK_THROWS_WITH(fsync_directory(dir.file("absent")), Catch::Contains(dir.file("absent")));
}
