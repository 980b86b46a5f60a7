/* Description: must FAIL to compile. The build registers it as a
 * should_fail compile test (with -Werror=incompatible-pointer-types, which
 * GCC before 14 needs to make C's required diagnostic an error):
 * intchan_recv_case takes an int *, and a long * is a type error, like
 * `case v := <-ch` with the wrong type in Go. If this file ever compiles,
 * RINGO_CHAN_DEFINE's select cases no longer check the element type.
 */
#include <ringo.h>

RINGO_CHAN_DEFINE(intchan, int)

int main(void)
{
    intchan c = intchan_make(1);
    long wrong = 0;
    ringo_case_t cs[] = {intchan_recv_case(c.rx, &wrong)};   /* error: long * for int * */
    ringo_select(cs, 1);
    intchan_unref(c);
    return 0;
}
