OPENQASM 3.0;
include "stdgates.inc";
input float[64] a;
input angle[32] b;
qubit[2] q;
gate g(t) x, y { ry(t/2) x; ctrl @ rz(-t) x, y; }
g(2*a + pi) q[0], q[1];
inv @ s q;
pow(2) @ t q[1];
negctrl @ x q[0], q[1];
U(b, 0, tau) q[0];
bit[2] c;
c = measure q;
