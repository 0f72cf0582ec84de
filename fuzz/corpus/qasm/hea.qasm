OPENQASM 3.0;
include "stdgates.inc";
// written by qdm 0.2.0: 3 qubits, 8 gates, 6 parameters as inputs theta_<i>
// qubit q[i] is qdm qubit i, bit i of a basis index (q[0] least significant)
// seed
input float[64] theta_0;
input float[64] theta_1;
input float[64] theta_2;
input float[64] theta_3;
input float[64] theta_4;
input float[64] theta_5;
qubit[3] q;
ry(theta_0) q[0];
ry(theta_1) q[1];
ry(theta_2) q[2];
rz(theta_3) q[0];
rz(theta_4) q[1];
rz(theta_5) q[2];
cx q[0], q[1];
cx q[1], q[2];
