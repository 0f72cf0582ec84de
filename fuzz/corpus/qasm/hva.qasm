OPENQASM 3.0;
include "stdgates.inc";
// written by qdm 0.2.0: 3 qubits, 8 gates, 2 parameters as inputs theta_<i>
// qubit q[i] is qdm qubit i, bit i of a basis index (q[0] least significant)
// seed
input float[64] theta_0;
input float[64] theta_1;
gate rzz(theta) a, b { cx a, b; rz(theta) b; cx a, b; }
qubit[3] q;
h q[0];
h q[1];
h q[2];
rzz(2*theta_0) q[0], q[1];
rzz(2*theta_0) q[1], q[2];
rx(2*theta_1) q[0];
rx(2*theta_1) q[1];
rx(2*theta_1) q[2];
