/// The data centers of Tencent Cloud Chat and their REST hosts (protocol reference, §3.1).
/// Use the region of the SDKAppID's data center; another one answers 70016/70020.
public enum TencentRegion: String, CaseIterable, Sendable {
    case china
    case singapore
    case seoul
    case tokyo
    case frankfurt
    case mumbai
    case siliconValley = "silicon-valley"
    case jakarta

    public var host: String {
        switch self {
        case .china: "console.tim.qq.com"
        case .singapore: "adminapisgp.im.qcloud.com"
        case .seoul: "adminapikr.im.qcloud.com"
        case .tokyo: "adminapijpn.im.qcloud.com"
        case .frankfurt: "adminapiger.im.qcloud.com"
        case .mumbai: "adminapiind.im.qcloud.com"
        case .siliconValley: "adminapiusa.im.qcloud.com"
        case .jakarta: "adminapiidn.im.qcloud.com"
        }
    }

    public var baseURL: String { "https://\(host)" }
}
