/* LeakSanitizer builds only: keep the Vulkan driver and layers mapped until
 * exit. The loader unloads them in vkDestroyInstance; one-time allocations a
 * driver keeps in its globals then look like leaks, from a module that is
 * gone, so neither a suppression by library name nor a symbol can match
 * them (Mesa 22.3.6-1+deb12u2's lavapipe has one, from a pthread_once).
 * Pinned, their globals stay visible to the leak scan, and their real leaks
 * are reported with the library's name. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <link.h>

#include "internal.h"

#if defined(__SANITIZE_ADDRESS__)
static int pin_one(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    (void)data;
    /* RTLD_NOLOAD: only what is loaded already; the handle is kept on
     * purpose, so the library is never unmapped. */
    if (info->dlpi_name && info->dlpi_name[0])
        (void)dlopen(info->dlpi_name, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
    return 0;
}

void vknmt_pin_loaded_libraries(void)
{
    dl_iterate_phdr(pin_one, NULL);
}
#else
void vknmt_pin_loaded_libraries(void) {}
#endif
