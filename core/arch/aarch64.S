/* core/arch/aarch64.S - the fiber context switch for AArch64 (AAPCS64).
 *
 * void ringo__ctx_switch(void **save_sp, void *load_sp)
 *   Saves x19-x28, the frame pointer x29, the link register x30, the low
 *   halves of v8-v15 (d8-d15) and FPCR on the current stack, stores sp in
 *   *save_sp, loads load_sp and restores the same frame from there.
 *
 * Frame at a saved sp (176 bytes):
 *   [sp+0]   x19 x20 x21 x22 x23 x24 x25 x26 x27 x28 x29 x30
 *   [sp+96]  d8 .. d15
 *   [sp+160] FPCR, pad
 * A new fiber's first frame (fiber.c builds it) has x30 = ringo__ctx_start,
 * x19 = the fiber and x20 = its entry function.
 */
    .text
    .p2align 4
    .globl ringo__ctx_switch
    .hidden ringo__ctx_switch
    .type ringo__ctx_switch, %function
ringo__ctx_switch:
    sub sp, sp, #176
    stp x19, x20, [sp, #0]
    stp x21, x22, [sp, #16]
    stp x23, x24, [sp, #32]
    stp x25, x26, [sp, #48]
    stp x27, x28, [sp, #64]
    stp x29, x30, [sp, #80]
    stp d8, d9, [sp, #96]
    stp d10, d11, [sp, #112]
    stp d12, d13, [sp, #128]
    stp d14, d15, [sp, #144]
    mrs x9, fpcr
    str x9, [sp, #160]
    mov x9, sp
    str x9, [x0]
    mov sp, x1
    ldr x9, [sp, #160]
    msr fpcr, x9
    ldp x19, x20, [sp, #0]
    ldp x21, x22, [sp, #16]
    ldp x23, x24, [sp, #32]
    ldp x25, x26, [sp, #48]
    ldp x27, x28, [sp, #64]
    ldp x29, x30, [sp, #80]
    ldp d8, d9, [sp, #96]
    ldp d10, d11, [sp, #112]
    ldp d12, d13, [sp, #128]
    ldp d14, d15, [sp, #144]
    add sp, sp, #176
    ret
    .size ringo__ctx_switch, .-ringo__ctx_switch

    .p2align 4
    .globl ringo__ctx_start
    .hidden ringo__ctx_start
    .type ringo__ctx_start, %function
ringo__ctx_start:
    mov x0, x19
    blr x20                     /* the entry function never returns */
    brk #0
    .size ringo__ctx_start, .-ringo__ctx_start

    .section .note.GNU-stack,"",%progbits
