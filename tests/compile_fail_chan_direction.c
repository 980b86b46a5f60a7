/* Description: must FAIL to compile. The build registers it as a
 * should_fail compile test: intchan_send takes a send-only view
 * (intchan_tx), and passing the receive-only view (c.rx, an intchan_rx) is a
 * type error, like sending on a <-chan int in Go. If this file ever compiles,
 * RINGO_CHAN_DEFINE no longer enforces channel direction.
 */
#include <ringo.h>

RINGO_CHAN_DEFINE(intchan, int)

int main(void)
{
    intchan c = intchan_make(1);
    intchan_send(c.rx, 1);      /* error: intchan_rx where intchan_tx is expected */
    intchan_unref(c);
    return 0;
}
