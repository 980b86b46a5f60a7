#include <ringo.h>
int main(void){return 0;}
