/* core/arch/x86_64.S - the fiber context switch for x86-64 (System V).
 *
 * void ringo__ctx_switch(void **save_sp, void *load_sp)
 *   Pushes the callee-saved registers (rbp, rbx, r12-r15) and the
 *   floating-point control state (MXCSR, x87 control word) on the current
 *   stack, stores the stack pointer in *save_sp, loads load_sp and pops the
 *   same frame from there. Caller-saved registers are the compiler's business:
 *   to it this is an ordinary call. No syscall, no signal-mask work.
 *
 * Frame at a saved sp, lowest address first:
 *   [sp+0]  MXCSR (4 bytes), x87 control word (2 bytes), pad
 *   [sp+8]  r15, r14, r13, r12, rbx, rbp
 *   [sp+56] return address
 * A new fiber's first frame (fiber.c builds it) returns into
 * ringo__ctx_start with r12 = the fiber and r13 = its entry function.
 */
    .text
    .p2align 4
    .globl ringo__ctx_switch
    .hidden ringo__ctx_switch
    .type ringo__ctx_switch, @function
ringo__ctx_switch:
    .cfi_startproc
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    subq $8, %rsp
    stmxcsr (%rsp)
    fnstcw 4(%rsp)
    movq %rsp, (%rdi)
    movl (%rsp), %eax           /* the FP control state we leave with */
    movzwl 4(%rsp), %ecx
    movq %rsi, %rsp
    /* Loading MXCSR or the x87 control word stalls the pipeline, and
     * nearly always both sides hold the defaults: load only what differs. */
    cmpl (%rsp), %eax
    je 1f
    ldmxcsr (%rsp)
1:  cmpw 4(%rsp), %cx
    je 2f
    fldcw 4(%rsp)
2:  addq $8, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .cfi_endproc
    .size ringo__ctx_switch, .-ringo__ctx_switch

    .p2align 4
    .globl ringo__ctx_start
    .hidden ringo__ctx_start
    .type ringo__ctx_start, @function
ringo__ctx_start:
    .cfi_startproc
    .cfi_undefined rip          /* the outermost frame: unwinders stop here */
    movq %r12, %rdi
    callq *%r13                 /* the entry function never returns */
    ud2
    .cfi_endproc
    .size ringo__ctx_start, .-ringo__ctx_start

    .section .note.GNU-stack,"",@progbits
