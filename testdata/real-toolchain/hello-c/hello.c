#include "hello.h"
const char *hello_greeting(void) { return "hello from libhello"; }
int hello_answer(void) { return 42; }
