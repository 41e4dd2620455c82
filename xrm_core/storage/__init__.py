"""Storage: engines, transactions, tables built from definitions, run-time DDL."""
