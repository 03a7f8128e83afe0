/* The SDK's C headers compile as strict C89. */
#include "rapport/embed.h"
#include "rapport/plugin.h"

int rapport_headers_compile_as_c89(void) { return RAPPORT_PLUGIN_ABI_VERSION + RAPPORT_OK; }
