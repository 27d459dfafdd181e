"""Print the machine's raw Ed25519 verify rate, one core and all cores."""

from tally.dev.benchmark import _verify_for, verify_rate_all_cores

if __name__ == "__main__":
    one = _verify_for(2.0) / 2.0
    print(f"Ed25519 verify (PyNaCl), one core: {one:,.0f}/s")
    print(f"Ed25519 verify (PyNaCl), all cores: {verify_rate_all_cores():,.0f}/s")
