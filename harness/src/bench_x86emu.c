/* libx86emu runner for `igdemu bench` (figure b). Built by the bench at run
 * time with `cc -O2 ... -lx86emu`. Reads a setup file written by the bench
 * (memory image, MMIO ranges, and the same replay streams the raw-unicorn
 * runner uses: values for IN, MMIO reads, BIOS service results, host INT
 * calls), runs POST + the host INT 10h calls, and prints
 *   instructions=N ns=T in_used=A/B mmio_used=C/D bios_used=E/F ok=1
 * where T is the best of REPS timed runs (no code hook) and N comes from one
 * extra untimed run with a code hook that counts instructions.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <x86emu.h>

typedef struct {
  uint32_t eax, ebx, ecx, edx, esi, edi, es, cf;
} regs8_t;

static uint8_t *low;
static uint32_t low_len;
static uint32_t n_extra;
static uint32_t *extra_addr, *extra_len;
static uint8_t **extra_data;
static uint32_t n_mmio;
static uint32_t *mmio_base, *mmio_size;
static uint32_t n_in, *in_vals, in_pos;
static uint32_t n_mr;
static uint64_t *mr_vals;
static uint32_t mr_pos;
static uint32_t n_bios, bios_pos;
static regs8_t *bios;
static uint32_t n_host;
static regs8_t *host; /* cf field = vector */
static uint32_t post_ax;
static x86emu_memio_handler_t default_memio;
static uint64_t insns;

static uint32_t rd32(FILE *f) {
  uint32_t v = 0;
  if (fread(&v, 4, 1, f) != 1) { fprintf(stderr, "short setup file\n"); exit(2); }
  return v;
}

static void *rdbuf(FILE *f, size_t n) {
  void *p = malloc(n ? n : 1);
  if (n && fread(p, 1, n, f) != n) { fprintf(stderr, "short setup file\n"); exit(2); }
  return p;
}

static int in_mmio(uint32_t a) {
  for (uint32_t i = 0; i < n_mmio; i++)
    if (a >= mmio_base[i] && a - mmio_base[i] < mmio_size[i]) return 1;
  return 0;
}

static unsigned memio(x86emu_t *emu, u32 addr, u32 *val, unsigned type) {
  unsigned kind = type & ~0xFF;
  unsigned bits = 8u << (type & 3);
  uint32_t mask = bits == 32 ? 0xFFFFFFFFu : ((1u << bits) - 1);
  if (kind == X86EMU_MEMIO_I) {
    *val = (in_pos < n_in ? in_vals[in_pos++] : 0xFFFFFFFFu) & mask;
    return 0;
  }
  if (kind == X86EMU_MEMIO_O) {
    if ((addr & 0xFFFF) == 0xEF) {
      /* BIOS stub `out 0xEF,al ; iret`: apply the service's result. */
      if (bios_pos < n_bios) {
        regs8_t *r = &bios[bios_pos++];
        emu->x86.R_EAX = r->eax;
        emu->x86.R_EBX = r->ebx;
        emu->x86.R_ECX = r->ecx;
        emu->x86.R_EDX = r->edx;
        emu->x86.R_ESI = r->esi;
        emu->x86.R_EDI = r->edi;
        x86emu_set_seg_register(emu, emu->x86.R_ES_SEL, r->es);
        uint32_t ss = emu->x86.seg[R_SS_INDEX].base;
        uint32_t a = ss + ((emu->x86.R_SP + 4) & 0xFFFF);
        unsigned fl = x86emu_read_word(emu, a);
        fl = (fl & ~1u) | (r->cf ? 1u : 0u);
        x86emu_write_word(emu, a, fl);
      }
    }
    return 0;
  }
  if ((kind == X86EMU_MEMIO_R || kind == X86EMU_MEMIO_W) && in_mmio(addr)) {
    if (kind == X86EMU_MEMIO_R) *val = (uint32_t)((mr_pos < n_mr ? mr_vals[mr_pos++] : ~0ull) & mask);
    return 0;
  }
  return default_memio(emu, addr, val, type);
}

static int count_code(x86emu_t *emu) {
  (void)emu;
  insns++;
  return 0;
}

static void set_call_regs(x86emu_t *emu, const regs8_t *r) {
  emu->x86.R_EAX = r->eax;
  emu->x86.R_EBX = r->ebx;
  emu->x86.R_ECX = r->ecx;
  emu->x86.R_EDX = r->edx;
  emu->x86.R_ESI = r->esi;
  emu->x86.R_EDI = r->edi;
  emu->x86.R_EBP = 0;
  x86emu_set_seg_register(emu, emu->x86.R_ES_SEL, r->es);
  x86emu_set_seg_register(emu, emu->x86.R_DS_SEL, 0);
  x86emu_set_seg_register(emu, emu->x86.R_SS_SEL, 0);
  emu->x86.R_ESP = 0x7000;
  emu->x86.R_EFLG = 0x2;
}

/* One full run: POST then the host calls. Returns 1 if every call ended on
 * its trampoline's hlt. */
static int run_once(int counting) {
  in_pos = mr_pos = bios_pos = 0;
  x86emu_t *emu = x86emu_new(X86EMU_PERM_RWX, X86EMU_PERM_RW);
  default_memio = x86emu_set_memio_handler(emu, memio);
  for (uint32_t i = 0; i < low_len; i++) x86emu_write_byte_noperm(emu, i, low[i]);
  for (uint32_t k = 0; k < n_extra; k++)
    for (uint32_t i = 0; i < extra_len[k]; i++) x86emu_write_byte_noperm(emu, extra_addr[k] + i, extra_data[k][i]);
  if (counting) x86emu_set_code_handler(emu, count_code);
  int ok = 1;
  /* POST: lcall C000:0003 ; hlt at F000:FF00. */
  regs8_t post = {post_ax, 0xFFFF, 0, 0xFFFF, 0, 0, 0xF000, 0};
  set_call_regs(emu, &post);
  x86emu_set_seg_register(emu, emu->x86.R_CS_SEL, 0xF000);
  emu->x86.R_EIP = 0xFF00;
  x86emu_run(emu, X86EMU_RUN_LOOP | X86EMU_RUN_NO_CODE);
  ok &= emu->x86.R_CS == 0xF000 && (emu->x86.R_IP == 0xFF05 || emu->x86.R_IP == 0xFF06);
  uint8_t vbe2[512] = {'V', 'B', 'E', '2'};
  for (uint32_t i = 0; i < sizeof vbe2; i++) x86emu_write_byte_noperm(emu, 0x8000 + i, vbe2[i]);
  for (uint32_t h = 0; h < n_host; h++) {
    /* int n ; hlt at F000:FF10. */
    x86emu_write_byte_noperm(emu, 0xFFF10, 0xCD);
    x86emu_write_byte_noperm(emu, 0xFFF11, host[h].cf);
    x86emu_write_byte_noperm(emu, 0xFFF12, 0xF4);
    set_call_regs(emu, &host[h]);
    x86emu_set_seg_register(emu, emu->x86.R_CS_SEL, 0xF000);
    emu->x86.R_EIP = 0xFF10;
    x86emu_run(emu, X86EMU_RUN_LOOP | X86EMU_RUN_NO_CODE);
    ok &= emu->x86.R_CS == 0xF000 && (emu->x86.R_IP == 0xFF12 || emu->x86.R_IP == 0xFF13);
  }
  x86emu_done(emu);
  return ok;
}

int main(int argc, char **argv) {
  if (argc < 3) { fprintf(stderr, "usage: %s SETUP REPS\n", argv[0]); return 2; }
  FILE *f = fopen(argv[1], "rb");
  if (!f) { perror(argv[1]); return 2; }
  int reps = atoi(argv[2]);
  if (rd32(f) != 0x31424749u) { fprintf(stderr, "bad magic\n"); return 2; }
  post_ax = rd32(f);
  low_len = rd32(f);
  low = rdbuf(f, low_len);
  n_extra = rd32(f);
  extra_addr = calloc(n_extra + 1, 4); extra_len = calloc(n_extra + 1, 4); extra_data = calloc(n_extra + 1, sizeof(void *));
  for (uint32_t k = 0; k < n_extra; k++) {
    extra_addr[k] = rd32(f); extra_len[k] = rd32(f); extra_data[k] = rdbuf(f, extra_len[k]);
  }
  n_mmio = rd32(f);
  mmio_base = calloc(n_mmio + 1, 4); mmio_size = calloc(n_mmio + 1, 4);
  for (uint32_t k = 0; k < n_mmio; k++) { mmio_base[k] = rd32(f); mmio_size[k] = rd32(f); }
  n_in = rd32(f); in_vals = rdbuf(f, (size_t)n_in * 4);
  n_mr = rd32(f); mr_vals = rdbuf(f, (size_t)n_mr * 8);
  n_bios = rd32(f); bios = rdbuf(f, (size_t)n_bios * sizeof(regs8_t));
  n_host = rd32(f); host = rdbuf(f, (size_t)n_host * sizeof(regs8_t));
  fclose(f);

  uint64_t best = ~0ull;
  int ok = 1;
  for (int r = 0; r < (reps < 1 ? 1 : reps); r++) {
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    ok &= run_once(0);
    clock_gettime(CLOCK_MONOTONIC, &b);
    uint64_t ns = (uint64_t)(b.tv_sec - a.tv_sec) * 1000000000ull + (uint64_t)(b.tv_nsec - a.tv_nsec);
    if (ns < best) best = ns;
  }
  insns = 0;
  ok &= run_once(1);
  printf("instructions=%llu ns=%llu in_used=%u/%u mmio_used=%u/%u bios_used=%u/%u ok=%d\n",
         (unsigned long long)insns, (unsigned long long)best, in_pos, n_in, mr_pos, n_mr, bios_pos, n_bios, ok);
  return 0;
}
