/// The NTK's memory budget: configs and flags give it in MiB, `NTKComputer` counts bytes.
/// The default and the one conversion live here so that the two never drift apart.
public enum NTKBudget {
    /// 4 GiB, unless a trial config (`ntk.budget_mib`) or a flag (`--budget-mib`) says otherwise.
    public static let defaultMiB = 4096

    public static func bytes(mib: Int) -> Int { mib << 20 }

    public static func mib(bytes: Int) -> Int { bytes >> 20 }
}
