// Elementary functions that give the same bits on every x86-64 CPU (private to the library).
//
// glibc chooses among FMA, FMA4 and SSE2 versions of exp, log, pow, sin, cos, sincos, ... at run
// time by the CPU it finds, and the versions differ in the last bit: a stored number that passes
// through one of them depends on the node it was computed on. symsweep's numbers pass through
// these instead. They use only +, -, *, / (IEEE-754, correctly rounded, no contraction: the
// library builds with -ffp-contract=off), sqrt (correctly rounded by IEEE-754) and exact scaling by
// powers of two (frexp, ldexp), so their results are the same wherever the same binary runs.
//
// exp and log follow fdlibm's e_exp.c and e_log.c (Sun Microsystems, 1993): argument reduction by
// ln 2 in two parts, then a minimax polynomial; errors below 1 ulp.
#pragma once

namespace symsweep::det {

/// e^x; +inf above 709.78, 0 below -745.13, NaN for NaN.
double exp(double x);
/// Natural logarithm; -inf at 0, NaN below 0 or for NaN, +inf at +inf.
double log(double x);
/// log10(x) = log(x) / ln 10.
double log10(double x);
/// 10^x: exact for whole x in [-22, 22] (10^k is a double there; 10^-k is rounded once), else
/// exp(x ln 10) with ln 10 in two parts.
double pow10(double x);
/// base^k for a whole k >= 0 by repeated squaring (the same bits for the same k).
double powi(double base, long k);

}  // namespace symsweep::det
