/// The OpenAPI 3.1 description of agentd's HTTP mapping, served at /openapi.yaml. The document
/// is the file openapi.yaml next to this one, compiled into the binary (SwiftPM's embedInCode
/// resource), so serving it looks up no bundle at run time and works wherever agentd is run
/// from. Tests validate it and walk every operation against a live server
/// (Tests/shell/openapi_check.py, Tests/fire/schemathesis.sh).
enum OpenAPIDocument {
    static let yaml = String(decoding: PackageResources.openapi_yaml, as: UTF8.self)
}
