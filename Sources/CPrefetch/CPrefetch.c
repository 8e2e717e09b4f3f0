// The module's functions are inline, in include/CPrefetch.h; SwiftPM needs a source file.
#include "CPrefetch.h"
