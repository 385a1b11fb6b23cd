// The simulator lives here (see SimulatorServer.swift once written).
enum TencentSimulatorPlaceholder {}
