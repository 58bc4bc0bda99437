//! Real SNMP agents for tests: net-snmp snmpd and snmpsim.
