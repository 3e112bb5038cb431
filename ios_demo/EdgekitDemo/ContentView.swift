import CoreML
import SwiftUI

struct ContentView: View {
    @StateObject private var model = DemoModel()
    @State private var className = ""
    @State private var showSettings = false

    var body: some View {
        ZStack {
            CameraPreview(session: model.camera.session).ignoresSafeArea()
            VStack(alignment: .leading, spacing: 6) {
                Text(model.info).font(.caption).foregroundColor(.white.opacity(0.8))
                if let e = model.error { Text(e).foregroundColor(.red) }
                ForEach(model.results) { r in
                    Text(String(format: "%5.1f%%  %@", r.score * 100, r.label)).font(.system(.body, design: .monospaced))
                }
                Text(String(format: "inference %.1f ms (median %.1f ms)", model.latencyMs, model.medianMs))
                    .foregroundColor(.yellow).font(.footnote)
                Spacer()
                if model.teaching {
                    VStack(alignment: .leading) {
                        TextField("New class name", text: $className).textFieldStyle(.roundedBorder)
                        Text(model.teachStatus).font(.footnote)
                        HStack {
                            Button("Add photo") { model.addPhoto(className: className) }
                            Spacer()
                            Button("Train") { model.train() }
                            Spacer()
                            Button("Forget") { model.forget() }
                        }
                    }
                    .padding().background(.black.opacity(0.6))
                }
                HStack {
                    Button(model.teaching ? "Classify" : "Teach") { model.teaching.toggle() }.disabled(!model.canTeach)
                    Spacer()
                    Button("Settings") { showSettings = true }
                }
            }
            .foregroundColor(.white)
            .padding()
        }
        .sheet(isPresented: $showSettings) { SettingsView(model: model) }
        .onAppear { model.start() }
    }
}

struct SettingsView: View {
    @ObservedObject var model: DemoModel
    private let options: [(String, MLComputeUnits)] = [
        ("CPU only", .cpuOnly), ("CPU + GPU", .cpuAndGPU), ("CPU + Neural Engine", .cpuAndNeuralEngine), ("All", .all),
    ]

    var body: some View {
        NavigationView {
            Form {
                Section(header: Text("Core ML compute units (the delegate)")) {
                    ForEach(0..<options.count, id: \.self) { i in
                        Button { model.computeUnits = options[i].1 } label: {
                            HStack {
                                Text(options[i].0)
                                Spacer()
                                if model.computeUnits == options[i].1 { Image(systemName: "checkmark") }
                            }
                        }
                    }
                }
                Section(header: Text("Threads")) {
                    Text("Core ML schedules its own threads; there is no thread-count setting on iOS.")
                }
            }
            .navigationTitle("Settings")
        }
    }
}
