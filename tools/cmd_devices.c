/* vknmt devices: every Vulkan device and what it can do. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

int vknmt_cmd_devices(vknmt_cli *cli, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--device") == 0)
            cli->device = vknmt_cli_value(argc, argv, &i);
        else {
            fprintf(stderr, "vknmt devices: unknown argument %s\n", argv[i]);
            return 2;
        }
    }
    vknmt_instance_options io = {0};
    if (vknmt_instance_create(&io, &cli->inst) != VKNMT_OK) {
        fprintf(stderr, "vknmt: %s\n", vknmt_instance_errmsg(cli->inst));
        return 1;
    }
    uint32_t chosen = 0;
    bool have_choice = vknmt_instance_select(cli->inst, cli->device, &chosen) == VKNMT_OK;
    uint32_t n = vknmt_instance_device_count(cli->inst);
    for (uint32_t i = 0; i < n; i++) {
        const vknmt_device_info *d = vknmt_instance_device(cli->inst, i);
        char ver[32];
        vknmt_driver_version_format(d->vendor_id, d->driver_version, ver, sizeof(ver));
        printf("%s%u: %s\n", have_choice && i == chosen ? "*" : " ", i, d->name);
        printf("    type        %s\n", vknmt_device_type_name(d->type));
        printf("    vendor      %s (0x%04x), device 0x%04x\n", vknmt_vendor_name(d->vendor_id), d->vendor_id,
               d->device_id);
        uint32_t api = d->api_version;
        printf("    driver      %s %s (version %s), Vulkan %u.%u.%u\n", d->driver_name[0] ? d->driver_name : "?",
               d->driver_info, ver, (api >> 22) & 0x7f, (api >> 12) & 0x3ff, api & 0xfff);
        printf("    memory     ");
        for (uint32_t h = 0; h < d->heap_count; h++)
            printf(" %.1f GiB%s%s", (double)d->heap_bytes[h] / (1u << 30), d->heap_device_local[h] ? " device-local" : "",
                   h + 1 < d->heap_count ? "," : "");
        printf("\n");
        printf("    subgroup    %u lanes\n", d->subgroup_size);
        printf("    shared mem  %u KiB per workgroup\n", d->shared_memory_bytes / 1024);
        printf("    fp16 %s, int8 %s\n", d->fp16 ? "yes" : "no", d->int8 ? "yes" : "no");
    }
    if (have_choice)
        printf("* = the device vknmt uses (--device N|NAME or VKNMT_DEVICE to choose another)\n");
    else
        fprintf(stderr, "vknmt: %s\n", vknmt_instance_errmsg(cli->inst));
    return have_choice ? 0 : 1;
}
