"""The typed intermediate representation both front ends lower to and every generator reads."""
