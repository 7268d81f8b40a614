/*
 * fake_nvml.c: a scriptable stand-in for libnvidia-ml.so.1, for Gantry's tests.
 *
 * It exports the NVML entry points Gantry binds, with NVML's ABI (x64 struct layouts as in
 * nvml.h), and answers from a script file. Build:
 *
 *   gcc -shared -fPIC -O1 -o libfake_nvml.so fake_nvml.c
 *   gcc -shared -fPIC -O1 -DFAKE_NVML_OLD_DRIVER -o libfake_nvml_old.so fake_nvml.c
 *
 * The second form leaves out the newer entry points (see OLD DRIVER below), as an old driver
 * would, so callers can be tested against missing symbols.
 *
 * SCRIPT
 * The script's path is read from the environment variable GANTRY_FAKE_NVML_SCRIPT (getenv,
 * so the native environment) at every nvmlInit_v2, and again whenever the test calls the
 * extra export fake_nvml_reload() (to change a scenario under a running NVML: a GPU falls off
 * the bus, a new XID arrives). No variable or no file: zero GPUs.
 *
 * One `key=value` a line; blank lines and lines starting with '#' are ignored.
 *
 *   init=9                     nvmlInit_v2 returns this code (default 0, success)
 *   gpus=2                     number of GPUs (max 16)
 *   driver=550.54.15           nvmlSystemGetDriverVersion
 *   nvml_version=12.550.54.15  nvmlSystemGetNVMLVersion
 *   cuda=12040                 nvmlSystemGetCudaDriverVersion_v2 (a VALUE, see below)
 *   xid=GPU:CODE               queue one XID critical event (0x8, eventData=CODE) for GPU;
 *                              nvmlEventSetWait* delivers each queued event once, in order,
 *                              to a set the GPU is registered in, then answers TIMEOUT
 *   watch=1                    re-read the script whenever its file changes (size or
 *                              modification time), checked at every nvmlDeviceGetCount_v2 and
 *                              every 10 ms of an event wait: a test in another process (the
 *                              agent's) rewrites the file to change the GPUs under a running
 *                              NVML. XIDs already delivered stay delivered: append xid lines to
 *                              queue more. The new script must say watch=1 to go on watching.
 *
 *   gpu.I.name=TEXT            strings (defaults: "Fake GPU I", "GPU-fake-000I",
 *   gpu.I.uuid=TEXT              "00000000:0I:00.0")
 *   gpu.I.pci_bus_id=TEXT
 *   gpu.I.lost=1               every call on the GPU (and its MIG devices) returns
 *                              GPU_IS_LOST (15); the handle itself is still handed out
 *   gpu.I.KEY=VALUE            a reading, VALUE as below. KEYs and what returns them:
 *     memory_total memory_used memory_free      GetMemoryInfo_v2 (bytes); GetMemoryInfo (v1)
 *     memory_reserved                            GetMemoryInfo_v2's reserved; v1 answers
 *                                                used + reserved as used, as drivers do
 *                                                (default 512 MiB); _v2 wants version
 *                                                0x02000028, else ARGUMENT_VERSION_MISMATCH
 *     memory_v2                                  an error code GetMemoryInfo_v2 alone answers
 *     util_gpu util_mem                          GetUtilizationRates (%)
 *     temp                                       GetTemperatureV (version 0x0100000C, else
 *                                                ARGUMENT_VERSION_MISMATCH) and GetTemperature (C)
 *     temp_v                                     an error code GetTemperatureV alone answers
 *     deprecated                                 an error code the entry points NVML 13.0
 *                                                deprecated answer (GetTemperature,
 *                                                GetCurrentClocksThrottleReasons), as a driver
 *                                                that dropped them would (default 0: they work)
 *     mem_temp                                   field 82 (C); `lost` makes only that field
 *                                                value say GPU_IS_LOST, the call succeeding
 *     recovery_action                            field 230, GET_GPU_RECOVERY_ACTION (default 0)
 *     power_mw                                   GetPowerUsage
 *     energy_mj energy_step_mj                   GetTotalEnergyConsumption returns energy_mj
 *                                                and then adds energy_step_mj (default 1000)
 *     energy_clock                               1: the counter runs with the clock instead:
 *                                                it starts at energy_mj at its first reading
 *                                                and grows by power_mw for every second of
 *                                                CLOCK_MONOTONIC (energy_step_mj unused); it
 *                                                keeps counting across script reloads, at
 *                                                the power scripted at each reading.
 *                                                energy_mj=unsupported still makes the counter
 *                                                unsupported (NOT_SUPPORTED)
 *     power_limit_mw enforced_limit_mw default_limit_mw min_limit_mw max_limit_mw
 *     clock_sm clock_mem clock_graphics max_clock_sm          (MHz)
 *     clock_reasons                              GetCurrentClocksEventReasons/ThrottleReasons
 *     pstate fan
 *     ecc_corrected_volatile ecc_uncorrected_volatile
 *     ecc_corrected_aggregate ecc_uncorrected_aggregate
 *     retired_sbe retired_dbe                    GetRetiredPages counts
 *     retired_null                               1: a NULL addresses buffer is answered
 *                                                INVALID_ARGUMENT, as some drivers do
 *     retired_pending                            GetRetiredPagesPendingStatus (0 or 1)
 *     remapped_corr remapped_unc remapped_pending remapped_failure
 *     pcie_replay pcie_gen pcie_width
 *     pci                                        GetPciInfo_v3 (only an error code matters)
 *     nvlinks                                    links reported by GetNvLinkState (default 0:
 *                                                NOT_SUPPORTED; N: links 0..N-1, then
 *                                                INVALID_ARGUMENT; at most 36)
 *     events                                     GetSupportedEventTypes mask (default 0x401f)
 *     processes                                  an error code, or the list (see below)
 *     process_stride                             bytes per process entry written: 24 (the
 *                                                header's, default), 16 (v1 layout) or 32
 *                                                (v2 plus an 8-byte counter), as drivers have;
 *                                                *infoCount is taken as a count of such entries
 *     mig                                        GetMigMode current mode (default 0)
 *     mig_max                                    GetMaxMigDeviceCount (default 7)
 *   gpu.I.nvlink.L.remote=BUSID  the link's remote PCI bus id (GetNvLinkRemotePciInfo_v2;
 *                              NOT_SUPPORTED when not given; missing in the old-driver build)
 *   gpu.I.nvlink.L.KEY=VALUE   per link: active (default 1; an error code fails that link's
 *                              GetNvLinkState only), tx_kib (default 1000*(L+1)),
 *                              rx_kib (2000*(L+1)), crc_flit (L), crc_data (30+L), replay (10+L),
 *                              recovery (20+L); the counters are answered through
 *                              GetFieldValues 138/139/38/45/52/59
 *   gpu.I.processes=PID:BYTES,PID:BYTES    compute processes (at most 64); BYTES may be `na`
 *                              (NVML_VALUE_NOT_AVAILABLE); an empty value is no processes
 *   gpu.I.mig.K.KEY=VALUE      MIG device K exists once any of its keys is given:
 *                              uuid (text), memory_total, memory_used, gi, ci
 *   gpu.I.set_limit=VALUE      what nvmlDeviceSetPowerManagementLimit answers for the GPU: 0
 *                              (default) accepts a limit within [min_limit_mw, max_limit_mw]
 *                              (INVALID_ARGUMENT outside it) and makes it the GPU's
 *                              power_limit_mw and enforced_limit_mw; noperm, unsupported or
 *                              err:N refuse every call with that code and change nothing
 *
 * POWER LIMITS
 * nvmlDeviceGetPowerManagementLimit answers power_limit_mw, GetPowerManagementLimitConstraints
 * min_limit_mw and max_limit_mw (each scriptable per GPU, as an error code too). A limit set by
 * nvmlDeviceSetPowerManagementLimit is what those Get calls (and GetEnforcedPowerLimit) answer
 * from then on; it outlives the re-reads of watch=1 (a test rewriting the script does not reset
 * the GPU, as it would not reset a real one) but not a load at the first nvmlInit_v2 or by
 * fake_nvml_reload(), so tests in one process start from the script's limits. Set calls are
 * appended, one a line, to the file named by the environment variable GANTRY_FAKE_NVML_SET_LOG
 * (when it is set), whether they succeed or not:
 *
 *   set gpu=0 mw=250000 ret=0
 *
 * opened, appended and closed at each call, so another process (the test) reads it at once.
 *
 * VALUE is a decimal or 0x-hex number, or one of: unsupported (NOT_SUPPORTED, 3),
 * noperm (NO_PERMISSION, 4), lost (GPU_IS_LOST, 15), notfound (FUNCTION_NOT_FOUND, 13),
 * err:N (return code N). Unscripted readings have plausible non-zero defaults.
 *
 * OLD DRIVER (-DFAKE_NVML_OLD_DRIVER) lacks: nvmlSystemGetCudaDriverVersion_v2,
 * nvmlDeviceGetTotalEnergyConsumption, nvmlDeviceGetCurrentClocksEventReasons (the
 * ThrottleReasons name stays), nvmlDeviceGetMemoryInfo_v2 (GetMemoryInfo stays),
 * nvmlDeviceGetTemperatureV (GetTemperature stays), nvmlDeviceGetRemappedRows,
 * nvmlDeviceGetFieldValues, nvmlDeviceGetComputeRunningProcesses_v3, nvmlEventSetWait_v2
 * (nvmlEventSetWait stays) and the MIG functions.
 */
#include <pthread.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_GPUS 16
#define MAX_LINKS 36 /* NVML_NVLINK_MAX_LINKS of the 13.x header */
#define MAX_PROCS 64
#define MAX_MIG 8
#define MAX_XIDS 256

typedef int nvmlReturn_t;
typedef void *nvmlDevice_t;
typedef void *nvmlEventSet_t;

typedef struct { unsigned long long total, free, used; } nvmlMemory_t;
typedef struct { unsigned int version; unsigned long long total, reserved, free, used; } nvmlMemory_v2_t;
typedef struct { unsigned int version; int sensorType; int temperature; } nvmlTemperature_t;
typedef struct { unsigned int gpu, memory; } nvmlUtilization_t;
typedef struct {
    char busIdLegacy[16];
    unsigned int domain, bus, device, pciDeviceId, pciSubSystemId;
    char busId[32];
} nvmlPciInfo_t;
typedef struct {
    unsigned int pid;
    unsigned long long usedGpuMemory;
    unsigned int gpuInstanceId, computeInstanceId;
} nvmlProcessInfo_t;
typedef struct {
    nvmlDevice_t device;
    unsigned long long eventType, eventData;
    unsigned int gpuInstanceId, computeInstanceId;
} nvmlEventData_t;
typedef struct {
    unsigned int fieldId, scopeId;
    long long timestamp, latencyUsec;
    int valueType;
    nvmlReturn_t nvmlReturn;
    union { double d; unsigned int ui; unsigned long ul; unsigned long long ull; long long sll; int si; } value;
} nvmlFieldValue_t;

_Static_assert(sizeof(nvmlMemory_v2_t) == 40, "nvmlMemory_v2_t");
_Static_assert(sizeof(nvmlTemperature_t) == 12, "nvmlTemperature_t");
_Static_assert(sizeof(nvmlPciInfo_t) == 68, "nvmlPciInfo_t");
_Static_assert(sizeof(nvmlProcessInfo_t) == 24, "nvmlProcessInfo_t");
_Static_assert(sizeof(nvmlEventData_t) == 32, "nvmlEventData_t");
_Static_assert(sizeof(nvmlFieldValue_t) == 40, "nvmlFieldValue_t");

#define MEMORY_V2_VERSION (40u | (2u << 24))
#define TEMPERATURE_V1_VERSION (12u | (1u << 24))

/* A scripted reading: an error code, or success with a value. */
typedef struct { int ret; unsigned long long v; } val_t;

enum {
    K_MEM_TOTAL, K_MEM_USED, K_MEM_FREE, K_UTIL_GPU, K_UTIL_MEM, K_TEMP, K_MEM_TEMP, K_POWER,
    K_ENERGY, K_ENERGY_STEP, K_PLIMIT, K_PENFORCED, K_PDEFAULT, K_PMIN, K_PMAX,
    K_CLK_SM, K_CLK_MEM, K_CLK_GR, K_MAXCLK_SM, K_REASONS, K_PSTATE, K_FAN,
    K_ECC_CV, K_ECC_UV, K_ECC_CA, K_ECC_UA, K_RET_SBE, K_RET_DBE,
    K_REMAP_CORR, K_REMAP_UNC, K_REMAP_PENDING, K_REMAP_FAIL,
    K_PCIE_REPLAY, K_PCIE_GEN, K_PCIE_WIDTH, K_PCI, K_NVLINKS, K_EVENTS, K_PROCESSES,
    K_MIG, K_MIG_MAX, K_MEM_RESERVED, K_DEPRECATED, K_RECOVERY, K_RET_NULL, K_PROC_STRIDE,
    K_MEM_V2, K_TEMP_V, K_RET_PENDING, K_ENERGY_CLOCK, K_COUNT
};

static const struct { const char *name; int key; unsigned long long def; } KEYS[] = {
    {"memory_total", K_MEM_TOTAL, 85899345920ULL}, {"memory_used", K_MEM_USED, 1073741824ULL},
    {"memory_free", K_MEM_FREE, 84825604096ULL}, {"util_gpu", K_UTIL_GPU, 50}, {"util_mem", K_UTIL_MEM, 20},
    {"temp", K_TEMP, 45}, {"mem_temp", K_MEM_TEMP, 50}, {"power_mw", K_POWER, 300000},
    {"energy_mj", K_ENERGY, 1000000}, {"energy_step_mj", K_ENERGY_STEP, 1000},
    {"power_limit_mw", K_PLIMIT, 700000}, {"enforced_limit_mw", K_PENFORCED, 700000},
    {"default_limit_mw", K_PDEFAULT, 700000}, {"min_limit_mw", K_PMIN, 200000}, {"max_limit_mw", K_PMAX, 700000},
    {"clock_sm", K_CLK_SM, 1980}, {"clock_mem", K_CLK_MEM, 2619}, {"clock_graphics", K_CLK_GR, 1980},
    {"max_clock_sm", K_MAXCLK_SM, 1980}, {"clock_reasons", K_REASONS, 0}, {"pstate", K_PSTATE, 0},
    {"fan", K_FAN, 30}, {"ecc_corrected_volatile", K_ECC_CV, 0}, {"ecc_uncorrected_volatile", K_ECC_UV, 0},
    {"ecc_corrected_aggregate", K_ECC_CA, 0}, {"ecc_uncorrected_aggregate", K_ECC_UA, 0},
    {"retired_sbe", K_RET_SBE, 0}, {"retired_dbe", K_RET_DBE, 0},
    {"remapped_corr", K_REMAP_CORR, 0}, {"remapped_unc", K_REMAP_UNC, 0},
    {"remapped_pending", K_REMAP_PENDING, 0}, {"remapped_failure", K_REMAP_FAIL, 0},
    {"pcie_replay", K_PCIE_REPLAY, 0}, {"pcie_gen", K_PCIE_GEN, 5}, {"pcie_width", K_PCIE_WIDTH, 16},
    {"pci", K_PCI, 0}, {"nvlinks", K_NVLINKS, 0}, {"events", K_EVENTS, 0x401f},
    {"processes", K_PROCESSES, 0}, {"mig", K_MIG, 0}, {"mig_max", K_MIG_MAX, 7},
    {"memory_reserved", K_MEM_RESERVED, 536870912ULL}, {"deprecated", K_DEPRECATED, 0},
    {"recovery_action", K_RECOVERY, 0}, {"retired_null", K_RET_NULL, 0}, {"process_stride", K_PROC_STRIDE, 24},
    {"memory_v2", K_MEM_V2, 0}, {"temp_v", K_TEMP_V, 0}, {"retired_pending", K_RET_PENDING, 0},
    {"energy_clock", K_ENERGY_CLOCK, 0},
};
#define NKEYS ((int)(sizeof(KEYS) / sizeof(KEYS[0])))

enum { L_ACTIVE, L_TX, L_RX, L_CRC_FLIT, L_CRC_DATA, L_REPLAY, L_RECOVERY, L_COUNT };
static const char *LINK_KEYS[L_COUNT] = {"active", "tx_kib", "rx_kib", "crc_flit", "crc_data", "replay", "recovery"};

/* Handles point at one of these; `kind` tells a GPU from a MIG device. */
typedef struct { int kind; int gpu; int mig; } handle_t;

typedef struct {
    handle_t h;
    int exists;
    char uuid[96];
    val_t memory_total, memory_used, gi, ci;
} mig_t;

typedef struct {
    handle_t h;
    char name[96], uuid[96], bus_id[32];
    char remote[MAX_LINKS][32]; /* NVLink remote PCI bus ids; empty: NOT_SUPPORTED */
    int lost;
    val_t v[K_COUNT];
    val_t link[MAX_LINKS][L_COUNT];
    int nprocs;
    nvmlProcessInfo_t procs[MAX_PROCS];
    mig_t mig[MAX_MIG];
    unsigned long long registered; /* event mask registered in the (single) event set */
    val_t set_limit;               /* what nvmlDeviceSetPowerManagementLimit answers */
    unsigned int limit_set_mw;     /* the limit last set (0: none); kept across re-reads */
} gpu_t;

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static int g_init_count;
static int g_init_ret;
static unsigned int g_ngpus;
static char g_driver[80], g_nvml[80];
static val_t g_cuda;
static gpu_t g_gpus[MAX_GPUS];
static struct { unsigned int gpu; unsigned long long code; } g_xids[MAX_XIDS];
static int g_nxids, g_next_xid;
static int g_watch; /* watch=1: re-read the script when its file changes */
static struct stat g_script_stat; /* the script file as last read */
static int g_event_set; /* the one event set's storage; its address is the handle */
static int g_event_set_live;

static val_t parse_val(const char *s)
{
    val_t r = {0, 0};
    if (strcmp(s, "unsupported") == 0) r.ret = 3;
    else if (strcmp(s, "noperm") == 0) r.ret = 4;
    else if (strcmp(s, "notfound") == 0) r.ret = 13;
    else if (strcmp(s, "lost") == 0) r.ret = 15;
    else if (strncmp(s, "err:", 4) == 0) r.ret = atoi(s + 4);
    else r.v = strtoull(s, NULL, 0);
    return r;
}

static void copy_str(char *dst, size_t size, const char *src)
{
    snprintf(dst, size, "%s", src);
}

static void reset_state(int keep_limits)
{
    g_init_ret = 0;
    g_ngpus = 0;
    copy_str(g_driver, sizeof g_driver, "550.54.15");
    copy_str(g_nvml, sizeof g_nvml, "12.550.54.15");
    g_cuda.ret = 0;
    g_cuda.v = 12040;
    g_nxids = g_next_xid = 0;
    g_watch = 0;
    for (int i = 0; i < MAX_GPUS; i++) {
        gpu_t *g = &g_gpus[i];
        unsigned long long registered = g->registered;
        unsigned int limit_set_mw = g->limit_set_mw;
        memset(g, 0, sizeof *g);
        g->registered = registered;
        g->limit_set_mw = keep_limits ? limit_set_mw : 0;
        g->h.kind = 1;
        g->h.gpu = i;
        snprintf(g->name, sizeof g->name, "Fake GPU %d", i);
        snprintf(g->uuid, sizeof g->uuid, "GPU-fake-%04d", i);
        snprintf(g->bus_id, sizeof g->bus_id, "00000000:%02X:00.0", i + 1);
        for (int k = 0; k < NKEYS; k++) g->v[KEYS[k].key].v = KEYS[k].def;
        for (int l = 0; l < MAX_LINKS; l++) {
            g->link[l][L_ACTIVE].v = 1;
            g->link[l][L_TX].v = 1000ULL * (l + 1);
            g->link[l][L_RX].v = 2000ULL * (l + 1);
            g->link[l][L_CRC_FLIT].v = l;
            g->link[l][L_CRC_DATA].v = 30 + l;
            g->link[l][L_REPLAY].v = 10 + l;
            g->link[l][L_RECOVERY].v = 20 + l;
        }
        for (int m = 0; m < MAX_MIG; m++) {
            mig_t *mg = &g->mig[m];
            mg->h.kind = 2;
            mg->h.gpu = i;
            mg->h.mig = m;
            snprintf(mg->uuid, sizeof mg->uuid, "MIG-fake-%d-%d", i, m);
            mg->memory_total.v = 10737418240ULL;
            mg->memory_used.v = 1048576ULL * (m + 1);
            mg->gi.v = 1 + m;
            mg->ci.v = 0;
        }
    }
}

static void parse_processes(gpu_t *g, const char *s)
{
    g->nprocs = 0;
    if (strcmp(s, "") == 0) return;
    val_t r = parse_val(s);
    if (r.ret != 0) { g->v[K_PROCESSES].ret = r.ret; return; }
    const char *p = s;
    while (*p && g->nprocs < MAX_PROCS) {
        nvmlProcessInfo_t *pi = &g->procs[g->nprocs++];
        char *end;
        pi->pid = (unsigned int)strtoul(p, &end, 10);
        pi->usedGpuMemory = 0;
        if (*end == ':') {
            end++;
            if (strncmp(end, "na", 2) == 0) { pi->usedGpuMemory = ~0ULL; end += 2; }
            else pi->usedGpuMemory = strtoull(end, &end, 10);
        }
        pi->gpuInstanceId = pi->computeInstanceId = ~0U;
        p = end;
        while (*p == ',' || *p == ' ') p++;
    }
}

static void apply_gpu_key(gpu_t *g, const char *key, const char *val)
{
    int l, m, n = 0;
    char sub[64];
    if (strcmp(key, "name") == 0) { copy_str(g->name, sizeof g->name, val); return; }
    if (strcmp(key, "uuid") == 0) { copy_str(g->uuid, sizeof g->uuid, val); return; }
    if (strcmp(key, "pci_bus_id") == 0) { copy_str(g->bus_id, sizeof g->bus_id, val); return; }
    if (strcmp(key, "lost") == 0) { g->lost = atoi(val); return; }
    if (strcmp(key, "processes") == 0) { parse_processes(g, val); return; }
    if (strcmp(key, "set_limit") == 0) { g->set_limit = parse_val(val); return; }
    if (sscanf(key, "nvlink.%d.%63s%n", &l, sub, &n) == 2 && l >= 0 && l < MAX_LINKS) {
        if (strcmp(sub, "remote") == 0) { copy_str(g->remote[l], sizeof g->remote[l], val); return; }
        for (int k = 0; k < L_COUNT; k++)
            if (strcmp(sub, LINK_KEYS[k]) == 0) g->link[l][k] = parse_val(val);
        return;
    }
    if (sscanf(key, "mig.%d.%63s", &m, sub) == 2 && m >= 0 && m < MAX_MIG) {
        mig_t *mg = &g->mig[m];
        mg->exists = 1;
        if (strcmp(sub, "uuid") == 0) copy_str(mg->uuid, sizeof mg->uuid, val);
        else if (strcmp(sub, "memory_total") == 0) mg->memory_total = parse_val(val);
        else if (strcmp(sub, "memory_used") == 0) mg->memory_used = parse_val(val);
        else if (strcmp(sub, "gi") == 0) mg->gi = parse_val(val);
        else if (strcmp(sub, "ci") == 0) mg->ci = parse_val(val);
        return;
    }
    for (int k = 0; k < NKEYS; k++)
        if (strcmp(key, KEYS[k].name) == 0) { g->v[KEYS[k].key] = parse_val(val); return; }
    fprintf(stderr, "fake_nvml: unknown key gpu.N.%s\n", key);
}

static void load_script(int keep_limits)
{
    reset_state(keep_limits);
    const char *path = getenv("GANTRY_FAKE_NVML_SCRIPT");
    if (path == NULL) return;
    FILE *f = fopen(path, "r");
    if (f == NULL) return;
    if (fstat(fileno(f), &g_script_stat) != 0) memset(&g_script_stat, 0, sizeof g_script_stat);
    char line[1024];
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        if (line[0] == '#' || line[0] == 0) continue;
        char *eq = strchr(line, '=');
        if (eq == NULL) continue;
        *eq = 0;
        const char *key = line, *val = eq + 1;
        int i, n = 0;
        if (strcmp(key, "init") == 0) g_init_ret = atoi(val);
        else if (strcmp(key, "gpus") == 0) { g_ngpus = (unsigned int)atoi(val); if (g_ngpus > MAX_GPUS) g_ngpus = MAX_GPUS; }
        else if (strcmp(key, "driver") == 0) copy_str(g_driver, sizeof g_driver, val);
        else if (strcmp(key, "nvml_version") == 0) copy_str(g_nvml, sizeof g_nvml, val);
        else if (strcmp(key, "cuda") == 0) g_cuda = parse_val(val);
        else if (strcmp(key, "watch") == 0) g_watch = atoi(val);
        else if (strcmp(key, "xid") == 0) {
            unsigned int gpu; unsigned long long code;
            if (sscanf(val, "%u:%llu", &gpu, &code) == 2 && g_nxids < MAX_XIDS) {
                g_xids[g_nxids].gpu = gpu;
                g_xids[g_nxids].code = code;
                g_nxids++;
            }
        }
        else if (sscanf(key, "gpu.%d.%n", &i, &n) == 1 && n > 0 && i >= 0 && i < MAX_GPUS) apply_gpu_key(&g_gpus[i], key + n, val);
        else fprintf(stderr, "fake_nvml: unknown key %s\n", key);
    }
    fclose(f);
}

/* With watch=1: re-reads the script when its file changed, keeping XIDs already delivered delivered. Under g_lock. */
static void reload_if_changed(void)
{
    if (!g_watch) return;
    const char *path = getenv("GANTRY_FAKE_NVML_SCRIPT");
    struct stat now;
    if (path == NULL || stat(path, &now) != 0) return;
    if (now.st_size == g_script_stat.st_size && now.st_mtim.tv_sec == g_script_stat.st_mtim.tv_sec
        && now.st_mtim.tv_nsec == g_script_stat.st_mtim.tv_nsec) return;
    int delivered = g_next_xid;
    load_script(1);
    g_next_xid = delivered < g_nxids ? delivered : g_nxids;
}

/* Re-reads the script without a new nvmlInit_v2 (test hook, not part of NVML). */
int fake_nvml_reload(void)
{
    pthread_mutex_lock(&g_lock);
    load_script(0);
    pthread_mutex_unlock(&g_lock);
    return 0;
}

#define LOCKED(body) do { pthread_mutex_lock(&g_lock); nvmlReturn_t r_ = (body); pthread_mutex_unlock(&g_lock); return r_; } while (0)

static nvmlReturn_t check_init(void) { return g_init_count > 0 ? 0 : 1; }

/* Resolves a handle to its GPU, with the common checks (init, lost). */
static nvmlReturn_t gpu_of(nvmlDevice_t d, gpu_t **out)
{
    if (g_init_count <= 0) return 1;
    handle_t *h = (handle_t *)d;
    if (h == NULL || h->gpu < 0 || (unsigned int)h->gpu >= g_ngpus) return 2;
    gpu_t *g = &g_gpus[h->gpu];
    if (g->lost) return 15;
    *out = g;
    return 0;
}

static nvmlReturn_t read_u32(nvmlDevice_t d, int key, unsigned int *out)
{
    gpu_t *g;
    nvmlReturn_t r = gpu_of(d, &g);
    if (r) return r;
    if (out == NULL) return 2;
    if (g->v[key].ret) return g->v[key].ret;
    *out = (unsigned int)g->v[key].v;
    return 0;
}

static nvmlReturn_t read_u64(nvmlDevice_t d, int key, unsigned long long *out)
{
    gpu_t *g;
    nvmlReturn_t r = gpu_of(d, &g);
    if (r) return r;
    if (out == NULL) return 2;
    if (g->v[key].ret) return g->v[key].ret;
    *out = g->v[key].v;
    return 0;
}

static nvmlReturn_t copy_out(char *buf, unsigned int length, const char *s)
{
    if (buf == NULL) return 2;
    if (strlen(s) + 1 > length) return 7;
    memcpy(buf, s, strlen(s) + 1);
    return 0;
}

nvmlReturn_t nvmlInit_v2(void)
{
    pthread_mutex_lock(&g_lock);
    if (g_init_count == 0) load_script(0);
    nvmlReturn_t r = g_init_ret;
    if (r == 0) g_init_count++;
    pthread_mutex_unlock(&g_lock);
    return r;
}

nvmlReturn_t nvmlShutdown(void)
{
    pthread_mutex_lock(&g_lock);
    nvmlReturn_t r = 0;
    if (g_init_count <= 0) r = 1;
    else if (--g_init_count == 0) {
        g_event_set_live = 0;
        for (int i = 0; i < MAX_GPUS; i++) g_gpus[i].registered = 0;
    }
    pthread_mutex_unlock(&g_lock);
    return r;
}

nvmlReturn_t nvmlSystemGetDriverVersion(char *version, unsigned int length)
{
    LOCKED(check_init() ? check_init() : copy_out(version, length, g_driver));
}

nvmlReturn_t nvmlSystemGetNVMLVersion(char *version, unsigned int length)
{
    LOCKED(check_init() ? check_init() : copy_out(version, length, g_nvml));
}

#ifndef FAKE_NVML_OLD_DRIVER
static nvmlReturn_t cuda_version(int *v)
{
    if (check_init()) return check_init();
    if (g_cuda.ret) return g_cuda.ret;
    *v = (int)g_cuda.v;
    return 0;
}

nvmlReturn_t nvmlSystemGetCudaDriverVersion_v2(int *cudaDriverVersion)
{
    LOCKED(cuda_version(cudaDriverVersion));
}
#endif

static nvmlReturn_t device_count(unsigned int *count)
{
    if (check_init()) return check_init();
    reload_if_changed();
    *count = g_ngpus;
    return 0;
}

nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *deviceCount)
{
    LOCKED(device_count(deviceCount));
}

static nvmlReturn_t handle_by_index(unsigned int index, nvmlDevice_t *device)
{
    if (check_init()) return check_init();
    if (index >= g_ngpus) return 2;
    *device = &g_gpus[index].h;
    return 0;
}

nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t *device)
{
    LOCKED(handle_by_index(index, device));
}

static nvmlReturn_t get_name(nvmlDevice_t d, char *name, unsigned int length)
{
    gpu_t *g;
    nvmlReturn_t r = gpu_of(d, &g);
    return r ? r : copy_out(name, length, g->name);
}

nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t device, char *name, unsigned int length)
{
    LOCKED(get_name(device, name, length));
}

static nvmlReturn_t get_uuid(nvmlDevice_t d, char *uuid, unsigned int length)
{
    gpu_t *g;
    nvmlReturn_t r = gpu_of(d, &g);
    if (r) return r;
    handle_t *h = (handle_t *)d;
    if (h->kind == 2) return copy_out(uuid, length, g->mig[h->mig].uuid);
    return copy_out(uuid, length, g->uuid);
}

nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t device, char *uuid, unsigned int length)
{
    LOCKED(get_uuid(device, uuid, length));
}

static nvmlReturn_t get_pci(nvmlDevice_t d, nvmlPciInfo_t *pci)
{
    gpu_t *g;
    nvmlReturn_t r = gpu_of(d, &g);
    if (r) return r;
    if (g->v[K_PCI].ret) return g->v[K_PCI].ret;
    memset(pci, 0, sizeof *pci);
    copy_str(pci->busId, sizeof pci->busId, g->bus_id);
    copy_str(pci->busIdLegacy, sizeof pci->busIdLegacy, g->bus_id + 4);
    pci->bus = (unsigned int)g->h.gpu + 1;
    pci->pciDeviceId = 0x233010de;
    return 0;
}

nvmlReturn_t nvmlDeviceGetPciInfo_v3(nvmlDevice_t device, nvmlPciInfo_t *pci)
{
    LOCKED(get_pci(device, pci));
}

static nvmlReturn_t get_memory(nvmlDevice_t d, nvmlMemory_t *m)
{
    gpu_t *g;
    nvmlReturn_t r = gpu_of(d, &g);
    if (r) return r;
    handle_t *h = (handle_t *)d;
    if (h->kind == 2) {
        mig_t *mg = &g->mig[h->mig];
        if (mg->memory_total.ret) return mg->memory_total.ret;
        if (mg->memory_used.ret) return mg->memory_used.ret;
        m->total = mg->memory_total.v;
        m->used = mg->memory_used.v;
        m->free = m->total - m->used;
        return 0;
    }
    if (g->v[K_MEM_TOTAL].ret) return g->v[K_MEM_TOTAL].ret;
    m->total = g->v[K_MEM_TOTAL].v;
    /* v1 counts what the driver and firmware reserve as used. */
    m->used = g->v[K_MEM_USED].v + g->v[K_MEM_RESERVED].v;
    m->free = g->v[K_MEM_FREE].v;
    return 0;
}

nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t device, nvmlMemory_t *memory)
{
    LOCKED(get_memory(device, memory));
}

#ifndef FAKE_NVML_OLD_DRIVER
static nvmlReturn_t get_memory_v2(nvmlDevice_t d, nvmlMemory_v2_t *m)
{
    gpu_t *g;
    nvmlReturn_t r = gpu_of(d, &g);
    if (r) return r;
    if (m == NULL) return 2;
    if (m->version != MEMORY_V2_VERSION) return 25;
    if (g->v[K_MEM_V2].ret) return g->v[K_MEM_V2].ret;
    handle_t *h = (handle_t *)d;
    if (h->kind == 2) {
        nvmlMemory_t v1;
        r = get_memory(d, &v1);
        if (r) return r;
        m->total = v1.total;
        m->reserved = 0;
        m->used = v1.used;
        m->free = v1.free;
        return 0;
    }
    if (g->v[K_MEM_TOTAL].ret) return g->v[K_MEM_TOTAL].ret;
    m->total = g->v[K_MEM_TOTAL].v;
    m->reserved = g->v[K_MEM_RESERVED].v;
    m->used = g->v[K_MEM_USED].v;
    m->free = g->v[K_MEM_FREE].v;
    return 0;
}

nvmlReturn_t nvmlDeviceGetMemoryInfo_v2(nvmlDevice_t device, nvmlMemory_v2_t *memory)
{
    LOCKED(get_memory_v2(device, memory));
}
#endif

static nvmlReturn_t get_util(nvmlDevice_t d, nvmlUtilization_t *u)
{
    nvmlReturn_t r = read_u32(d, K_UTIL_GPU, &u->gpu);
    return r ? r : read_u32(d, K_UTIL_MEM, &u->memory);
}

nvmlReturn_t nvmlDeviceGetUtilizationRates(nvmlDevice_t device, nvmlUtilization_t *utilization)
{
    LOCKED(get_util(device, utilization));
}

/* What an entry point NVML 13.0 deprecated answers: the scripted `deprecated` code, else 0. */
static nvmlReturn_t deprecated_ret(nvmlDevice_t d)
{
    gpu_t *g;
    nvmlReturn_t r = gpu_of(d, &g);
    return r ? r : g->v[K_DEPRECATED].ret;
}

static nvmlReturn_t get_temperature(nvmlDevice_t d, int sensorType, unsigned int *temp)
{
    nvmlReturn_t r = deprecated_ret(d);
    if (r) return r;
    return sensorType != 0 ? 2 : read_u32(d, K_TEMP, temp);
}

nvmlReturn_t nvmlDeviceGetTemperature(nvmlDevice_t device, int sensorType, unsigned int *temp)
{
    LOCKED(get_temperature(device, sensorType, temp));
}

#ifndef FAKE_NVML_OLD_DRIVER
static nvmlReturn_t get_temperature_v(nvmlDevice_t d, nvmlTemperature_t *t)
{
    unsigned int value;
    if (t == NULL) return 2;
    if (t->version != TEMPERATURE_V1_VERSION) return 25;
    if (t->sensorType != 0) return 2;
    gpu_t *g;
    nvmlReturn_t r = gpu_of(d, &g);
    if (r) return r;
    if (g->v[K_TEMP_V].ret) return g->v[K_TEMP_V].ret;
    r = read_u32(d, K_TEMP, &value);
    if (r) return r;
    t->temperature = (int)value;
    return 0;
}

nvmlReturn_t nvmlDeviceGetTemperatureV(nvmlDevice_t device, nvmlTemperature_t *temperature)
{
    LOCKED(get_temperature_v(device, temperature));
}
#endif

nvmlReturn_t nvmlDeviceGetPowerUsage(nvmlDevice_t device, unsigned int *power)
{
    LOCKED(read_u32(device, K_POWER, power));
}

#ifndef FAKE_NVML_OLD_DRIVER
/* energy_clock=1: each GPU's counter in mJ and when it was last advanced; kept across reloads. */
static double g_clock_energy[MAX_GPUS];
static struct timespec g_clock_last[MAX_GPUS];
static int g_clock_started[MAX_GPUS];

static nvmlReturn_t get_energy(nvmlDevice_t d, unsigned long long *energy)
{
    nvmlReturn_t r = read_u64(d, K_ENERGY, energy);
    if (r == 0) {
        int i = ((handle_t *)d)->gpu;
        gpu_t *g = &g_gpus[i];
        if (g->v[K_ENERGY_CLOCK].v) {
            struct timespec now;
            clock_gettime(CLOCK_MONOTONIC, &now);
            if (!g_clock_started[i]) {
                g_clock_started[i] = 1;
                g_clock_energy[i] = (double)g->v[K_ENERGY].v;
            } else {
                double seconds = (double)(now.tv_sec - g_clock_last[i].tv_sec) + (now.tv_nsec - g_clock_last[i].tv_nsec) / 1e9;
                double mw = g->v[K_POWER].ret == 0 ? (double)g->v[K_POWER].v : 0;
                g_clock_energy[i] += mw * seconds;
            }
            g_clock_last[i] = now;
            *energy = (unsigned long long)g_clock_energy[i];
        } else {
            g->v[K_ENERGY].v += g->v[K_ENERGY_STEP].v;
        }
    }
    return r;
}

nvmlReturn_t nvmlDeviceGetTotalEnergyConsumption(nvmlDevice_t device, unsigned long long *energy)
{
    LOCKED(get_energy(device, energy));
}
#endif

/* A limit read: the one last set, when there is one and the reading itself is not scripted to fail. */
static nvmlReturn_t read_limit(nvmlDevice_t d, int key, unsigned int *out)
{
    nvmlReturn_t r = read_u32(d, key, out);
    if (r == 0) {
        gpu_t *g = &g_gpus[((handle_t *)d)->gpu];
        if (g->limit_set_mw != 0) *out = g->limit_set_mw;
    }
    return r;
}

nvmlReturn_t nvmlDeviceGetPowerManagementLimit(nvmlDevice_t device, unsigned int *limit)
{
    LOCKED(read_limit(device, K_PLIMIT, limit));
}

nvmlReturn_t nvmlDeviceGetEnforcedPowerLimit(nvmlDevice_t device, unsigned int *limit)
{
    LOCKED(read_limit(device, K_PENFORCED, limit));
}

/* Appends one line per Set call to $GANTRY_FAKE_NVML_SET_LOG. Under g_lock. */
static void record_set(int gpu, unsigned int mw, nvmlReturn_t r)
{
    const char *path = getenv("GANTRY_FAKE_NVML_SET_LOG");
    if (path == NULL || path[0] == 0) return;
    FILE *f = fopen(path, "a");
    if (f == NULL) return;
    fprintf(f, "set gpu=%d mw=%u ret=%d\n", gpu, mw, r);
    fclose(f);
}

static nvmlReturn_t set_limit(nvmlDevice_t d, unsigned int mw)
{
    gpu_t *g;
    nvmlReturn_t r = gpu_of(d, &g);
    int gpu = d == NULL ? -1 : ((handle_t *)d)->gpu;
    if (r == 0 && ((handle_t *)d)->kind != 1) r = 3; /* a MIG device has no limit of its own */
    if (r == 0 && g->set_limit.ret) r = g->set_limit.ret;
    if (r == 0 && (g->v[K_PMIN].ret || g->v[K_PMAX].ret)) r = 3;
    if (r == 0 && (mw < g->v[K_PMIN].v || mw > g->v[K_PMAX].v)) r = 2;
    if (r == 0) g->limit_set_mw = mw;
    record_set(gpu, mw, r);
    return r;
}

nvmlReturn_t nvmlDeviceSetPowerManagementLimit(nvmlDevice_t device, unsigned int limit)
{
    LOCKED(set_limit(device, limit));
}

nvmlReturn_t nvmlDeviceGetPowerManagementDefaultLimit(nvmlDevice_t device, unsigned int *defaultLimit)
{
    LOCKED(read_u32(device, K_PDEFAULT, defaultLimit));
}

static nvmlReturn_t get_constraints(nvmlDevice_t d, unsigned int *minLimit, unsigned int *maxLimit)
{
    nvmlReturn_t r = read_u32(d, K_PMIN, minLimit);
    return r ? r : read_u32(d, K_PMAX, maxLimit);
}

nvmlReturn_t nvmlDeviceGetPowerManagementLimitConstraints(nvmlDevice_t device, unsigned int *minLimit, unsigned int *maxLimit)
{
    LOCKED(get_constraints(device, minLimit, maxLimit));
}

static int clock_key(int type, int max)
{
    if (max) return type == 1 ? K_MAXCLK_SM : -1;
    switch (type) {
    case 0: return K_CLK_GR;
    case 1: return K_CLK_SM;
    case 2: return K_CLK_MEM;
    default: return -1;
    }
}

nvmlReturn_t nvmlDeviceGetClockInfo(nvmlDevice_t device, int type, unsigned int *clock)
{
    LOCKED(clock_key(type, 0) < 0 ? 3 : read_u32(device, clock_key(type, 0), clock));
}

nvmlReturn_t nvmlDeviceGetMaxClockInfo(nvmlDevice_t device, int type, unsigned int *clock)
{
    LOCKED(clock_key(type, 1) < 0 ? 3 : read_u32(device, clock_key(type, 1), clock));
}

#ifndef FAKE_NVML_OLD_DRIVER
nvmlReturn_t nvmlDeviceGetCurrentClocksEventReasons(nvmlDevice_t device, unsigned long long *reasons)
{
    LOCKED(read_u64(device, K_REASONS, reasons));
}
#endif

static nvmlReturn_t throttle_reasons(nvmlDevice_t d, unsigned long long *reasons)
{
    nvmlReturn_t r = deprecated_ret(d);
    return r ? r : read_u64(d, K_REASONS, reasons);
}

nvmlReturn_t nvmlDeviceGetCurrentClocksThrottleReasons(nvmlDevice_t device, unsigned long long *reasons)
{
    LOCKED(throttle_reasons(device, reasons));
}

nvmlReturn_t nvmlDeviceGetPerformanceState(nvmlDevice_t device, unsigned int *pState)
{
    LOCKED(read_u32(device, K_PSTATE, pState));
}

nvmlReturn_t nvmlDeviceGetFanSpeed(nvmlDevice_t device, unsigned int *speed)
{
    LOCKED(read_u32(device, K_FAN, speed));
}

static int ecc_key(int errorType, int counterType)
{
    if (errorType == 0) return counterType == 0 ? K_ECC_CV : K_ECC_CA;
    return counterType == 0 ? K_ECC_UV : K_ECC_UA;
}

nvmlReturn_t nvmlDeviceGetTotalEccErrors(nvmlDevice_t device, int errorType, int counterType, unsigned long long *eccCounts)
{
    LOCKED((errorType < 0 || errorType > 1 || counterType < 0 || counterType > 1) ? 2 : read_u64(device, ecc_key(errorType, counterType), eccCounts));
}

static nvmlReturn_t retired_pages(nvmlDevice_t d, int cause, unsigned int *pageCount, unsigned long long *addresses)
{
    unsigned int n;
    nvmlReturn_t r = cause < 0 || cause > 1 ? 2 : read_u32(d, cause == 0 ? K_RET_SBE : K_RET_DBE, &n);
    if (r) return r;
    if (pageCount == NULL) return 2;
    if (addresses == NULL && g_gpus[((handle_t *)d)->gpu].v[K_RET_NULL].v) return 2;
    if (*pageCount < n) { *pageCount = n; return 7; }
    for (unsigned int i = 0; i < n; i++) if (addresses) addresses[i] = 0x1000ULL * (i + 1);
    *pageCount = n;
    return 0;
}

nvmlReturn_t nvmlDeviceGetRetiredPages(nvmlDevice_t device, int cause, unsigned int *pageCount, unsigned long long *addresses)
{
    LOCKED(retired_pages(device, cause, pageCount, addresses));
}

static nvmlReturn_t retired_pending(nvmlDevice_t d, int *isPending)
{
    unsigned int v;
    nvmlReturn_t r = read_u32(d, K_RET_PENDING, &v);
    if (!r) *isPending = v ? 1 : 0;
    return r;
}

nvmlReturn_t nvmlDeviceGetRetiredPagesPendingStatus(nvmlDevice_t device, int *isPending)
{
    LOCKED(isPending == NULL ? 2 : retired_pending(device, isPending));
}

#ifndef FAKE_NVML_OLD_DRIVER
static nvmlReturn_t remapped_rows(nvmlDevice_t d, unsigned int *corr, unsigned int *unc, unsigned int *pending, unsigned int *fail)
{
    nvmlReturn_t r = read_u32(d, K_REMAP_CORR, corr);
    if (!r) r = read_u32(d, K_REMAP_UNC, unc);
    if (!r) r = read_u32(d, K_REMAP_PENDING, pending);
    if (!r) r = read_u32(d, K_REMAP_FAIL, fail);
    return r;
}

nvmlReturn_t nvmlDeviceGetRemappedRows(nvmlDevice_t device, unsigned int *corrRows, unsigned int *uncRows, unsigned int *isPending, unsigned int *failureOccurred)
{
    LOCKED(remapped_rows(device, corrRows, uncRows, isPending, failureOccurred));
}
#endif

nvmlReturn_t nvmlDeviceGetPcieReplayCounter(nvmlDevice_t device, unsigned int *value)
{
    LOCKED(read_u32(device, K_PCIE_REPLAY, value));
}

nvmlReturn_t nvmlDeviceGetCurrPcieLinkGeneration(nvmlDevice_t device, unsigned int *currLinkGen)
{
    LOCKED(read_u32(device, K_PCIE_GEN, currLinkGen));
}

nvmlReturn_t nvmlDeviceGetCurrPcieLinkWidth(nvmlDevice_t device, unsigned int *currLinkWidth)
{
    LOCKED(read_u32(device, K_PCIE_WIDTH, currLinkWidth));
}

static nvmlReturn_t nvlink_state(nvmlDevice_t d, unsigned int link, int *isActive)
{
    unsigned int n;
    nvmlReturn_t r = read_u32(d, K_NVLINKS, &n);
    if (r) return r;
    if (n == 0) return 3;
    if (link >= n || link >= MAX_LINKS) return 2;
    val_t v = g_gpus[((handle_t *)d)->gpu].link[link][L_ACTIVE];
    if (v.ret) return v.ret;
    *isActive = v.v ? 1 : 0;
    return 0;
}

nvmlReturn_t nvmlDeviceGetNvLinkState(nvmlDevice_t device, unsigned int link, int *isActive)
{
    LOCKED(nvlink_state(device, link, isActive));
}

#ifndef FAKE_NVML_OLD_DRIVER
static nvmlReturn_t nvlink_remote(nvmlDevice_t d, unsigned int link, nvmlPciInfo_t *pci)
{
    int isActive;
    nvmlReturn_t r = nvlink_state(d, link, &isActive);
    if (r) return r;
    gpu_t *g = &g_gpus[((handle_t *)d)->gpu];
    if (!g->remote[link][0]) return 3;
    memset(pci, 0, sizeof *pci);
    copy_str(pci->busId, sizeof pci->busId, g->remote[link]);
    return 0;
}

nvmlReturn_t nvmlDeviceGetNvLinkRemotePciInfo_v2(nvmlDevice_t device, unsigned int link, nvmlPciInfo_t *pci)
{
    LOCKED(nvlink_remote(device, link, pci));
}

static void field_value(gpu_t *g, nvmlFieldValue_t *f)
{
    val_t v = {3, 0};
    unsigned int n = g->v[K_NVLINKS].ret ? 0 : (unsigned int)g->v[K_NVLINKS].v;
    int link_field = -1;
    switch (f->fieldId) {
    case 82: v = g->v[K_MEM_TEMP]; break;
    case 138: link_field = L_TX; break;
    case 139: link_field = L_RX; break;
    case 38: link_field = L_CRC_FLIT; break;
    case 45: link_field = L_CRC_DATA; break;
    case 230: v = g->v[K_RECOVERY]; break;
    case 52: link_field = L_REPLAY; break;
    case 59: link_field = L_RECOVERY; break;
    default: break;
    }
    if (link_field >= 0) {
        if (f->scopeId >= n) v.ret = n == 0 ? 3 : 2;
        else v = g->link[f->scopeId][link_field];
    }
    f->timestamp = 1;
    f->latencyUsec = 0;
    f->nvmlReturn = v.ret;
    if (f->fieldId == 82 || f->fieldId == 230) { f->valueType = 1; f->value.ui = (unsigned int)v.v; }
    else { f->valueType = 3; f->value.ull = v.v; }
}

static nvmlReturn_t field_values(nvmlDevice_t d, int count, nvmlFieldValue_t *values)
{
    gpu_t *g;
    nvmlReturn_t r = gpu_of(d, &g);
    if (r) return r;
    if (count < 0 || (count > 0 && values == NULL)) return 2;
    for (int i = 0; i < count; i++) field_value(g, &values[i]);
    return 0;
}

nvmlReturn_t nvmlDeviceGetFieldValues(nvmlDevice_t device, int valuesCount, nvmlFieldValue_t *values)
{
    LOCKED(field_values(device, valuesCount, values));
}

/*
 * Writes the list at the scripted entry size (process_stride), trusting *count as the number
 * of such entries the buffer holds, as a driver would: pid at 0, used memory at 8, then (24 and
 * 32 bytes) the instance ids at 16 and 20, then (32 bytes) a zero 8-byte counter.
 */
static nvmlReturn_t processes(nvmlDevice_t d, unsigned int *count, void *infos)
{
    gpu_t *g;
    nvmlReturn_t r = gpu_of(d, &g);
    if (r) return r;
    if (count == NULL) return 2;
    if (g->v[K_PROCESSES].ret) return g->v[K_PROCESSES].ret;
    unsigned int n = (unsigned int)g->nprocs;
    size_t stride = (size_t)g->v[K_PROC_STRIDE].v;
    if (stride != 16 && stride != 24 && stride != 32) return 999;
    if (*count < n) { *count = n; return 7; }
    if (n > 0 && infos == NULL) return 2;
    for (unsigned int i = 0; i < n; i++) {
        unsigned char entry[32];
        const nvmlProcessInfo_t *p = &g->procs[i];
        memset(entry, 0, sizeof entry);
        memcpy(entry, &p->pid, 4);
        memcpy(entry + 8, &p->usedGpuMemory, 8);
        if (stride >= 24) {
            memcpy(entry + 16, &p->gpuInstanceId, 4);
            memcpy(entry + 20, &p->computeInstanceId, 4);
        }
        memcpy((unsigned char *)infos + i * stride, entry, stride);
    }
    *count = n;
    return 0;
}

nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v3(nvmlDevice_t device, unsigned int *infoCount, void *infos)
{
    LOCKED(processes(device, infoCount, infos));
}
#endif

static nvmlReturn_t event_set_create(nvmlEventSet_t *set)
{
    if (check_init()) return check_init();
    if (g_event_set_live) return 999; /* the fake keeps one set */
    g_event_set_live = 1;
    *set = &g_event_set;
    return 0;
}

nvmlReturn_t nvmlEventSetCreate(nvmlEventSet_t *set)
{
    LOCKED(event_set_create(set));
}

static nvmlReturn_t supported_events(nvmlDevice_t d, unsigned long long *types)
{
    return read_u64(d, K_EVENTS, types);
}

nvmlReturn_t nvmlDeviceGetSupportedEventTypes(nvmlDevice_t device, unsigned long long *eventTypes)
{
    LOCKED(supported_events(device, eventTypes));
}

static nvmlReturn_t register_events(nvmlDevice_t d, unsigned long long types, nvmlEventSet_t set)
{
    unsigned long long supported;
    nvmlReturn_t r = supported_events(d, &supported);
    if (r) return r;
    if (set != &g_event_set || !g_event_set_live) return 2;
    if (types & ~supported) return 3;
    g_gpus[((handle_t *)d)->gpu].registered |= types;
    return 0;
}

nvmlReturn_t nvmlDeviceRegisterEvents(nvmlDevice_t device, unsigned long long eventTypes, nvmlEventSet_t set)
{
    LOCKED(register_events(device, eventTypes, set));
}

/* Hands out the next queued XID for a registered GPU; 10 (TIMEOUT) when there is none. */
static nvmlReturn_t next_event(nvmlEventSet_t set, nvmlEventData_t *data, size_t size)
{
    if (check_init()) return check_init();
    if (set != &g_event_set || !g_event_set_live) return 2;
    reload_if_changed();
    while (g_next_xid < g_nxids) {
        unsigned int gpu = g_xids[g_next_xid].gpu;
        unsigned long long code = g_xids[g_next_xid].code;
        g_next_xid++;
        if (gpu >= g_ngpus || !(g_gpus[gpu].registered & 0x8)) continue;
        nvmlEventData_t e = {&g_gpus[gpu].h, 0x8, code, ~0U, ~0U};
        memcpy(data, &e, size);
        return 0;
    }
    return 10;
}

static nvmlReturn_t event_wait(nvmlEventSet_t set, void *data, unsigned int timeoutms, size_t size)
{
    struct timespec step = {0, 10 * 1000 * 1000};
    for (unsigned int waited = 0;; waited += 10) {
        pthread_mutex_lock(&g_lock);
        nvmlReturn_t r = next_event(set, (nvmlEventData_t *)data, size);
        pthread_mutex_unlock(&g_lock);
        if (r != 10 || waited >= timeoutms) return r;
        nanosleep(&step, NULL);
    }
}

#ifndef FAKE_NVML_OLD_DRIVER
nvmlReturn_t nvmlEventSetWait_v2(nvmlEventSet_t set, nvmlEventData_t *data, unsigned int timeoutms)
{
    return event_wait(set, data, timeoutms, sizeof(nvmlEventData_t));
}
#endif

/* v1 event data lacks the two instance ids: 24 bytes. */
nvmlReturn_t nvmlEventSetWait(nvmlEventSet_t set, void *data, unsigned int timeoutms)
{
    return event_wait(set, data, timeoutms, 24);
}

static nvmlReturn_t event_set_free(nvmlEventSet_t set)
{
    if (check_init()) return check_init();
    if (set != &g_event_set || !g_event_set_live) return 2;
    g_event_set_live = 0;
    for (int i = 0; i < MAX_GPUS; i++) g_gpus[i].registered = 0;
    return 0;
}

nvmlReturn_t nvmlEventSetFree(nvmlEventSet_t set)
{
    LOCKED(event_set_free(set));
}

#ifndef FAKE_NVML_OLD_DRIVER
static nvmlReturn_t mig_mode(nvmlDevice_t d, unsigned int *current, unsigned int *pending)
{
    nvmlReturn_t r = read_u32(d, K_MIG, current);
    if (!r) *pending = *current;
    return r;
}

nvmlReturn_t nvmlDeviceGetMigMode(nvmlDevice_t device, unsigned int *currentMode, unsigned int *pendingMode)
{
    LOCKED(mig_mode(device, currentMode, pendingMode));
}

nvmlReturn_t nvmlDeviceGetMaxMigDeviceCount(nvmlDevice_t device, unsigned int *count)
{
    LOCKED(read_u32(device, K_MIG_MAX, count));
}

static nvmlReturn_t mig_handle(nvmlDevice_t d, unsigned int index, nvmlDevice_t *out)
{
    gpu_t *g;
    nvmlReturn_t r = gpu_of(d, &g);
    if (r) return r;
    if (!g->v[K_MIG].v) return 3;
    if (index >= MAX_MIG) return 2;
    if (!g->mig[index].exists) return 6;
    *out = &g->mig[index].h;
    return 0;
}

nvmlReturn_t nvmlDeviceGetMigDeviceHandleByIndex(nvmlDevice_t device, unsigned int index, nvmlDevice_t *migDevice)
{
    LOCKED(mig_handle(device, index, migDevice));
}

static nvmlReturn_t instance_id(nvmlDevice_t d, int compute, unsigned int *id)
{
    gpu_t *g;
    nvmlReturn_t r = gpu_of(d, &g);
    if (r) return r;
    handle_t *h = (handle_t *)d;
    if (h->kind != 2) return 2;
    val_t v = compute ? g->mig[h->mig].ci : g->mig[h->mig].gi;
    if (v.ret) return v.ret;
    *id = (unsigned int)v.v;
    return 0;
}

nvmlReturn_t nvmlDeviceGetGpuInstanceId(nvmlDevice_t device, unsigned int *id)
{
    LOCKED(instance_id(device, 0, id));
}

nvmlReturn_t nvmlDeviceGetComputeInstanceId(nvmlDevice_t device, unsigned int *id)
{
    LOCKED(instance_id(device, 1, id));
}
#endif
