#include <stdio.h>
#include <string.h>
#include "hello.h"
int main(int argc, char **argv) {
  if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
    puts("usage: hello [--help]");
    return 0;
  }
  if (argc > 1 && strcmp(argv[1], "--version") == 0) {
    puts("hello 1.0.0");
    return 0;
  }
  puts(hello_greeting());
  return hello_answer() == 42 ? 0 : 1;
}
