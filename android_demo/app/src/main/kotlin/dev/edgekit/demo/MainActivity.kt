package dev.edgekit.demo

import android.Manifest as AndroidManifest
import android.app.AlertDialog
import android.content.pm.PackageManager
import android.os.Bundle
import android.os.SystemClock
import android.view.View
import android.widget.Button
import android.widget.EditText
import android.widget.TextView
import android.widget.Toast
import androidx.activity.ComponentActivity
import androidx.activity.result.contract.ActivityResultContracts
import androidx.camera.core.CameraSelector
import androidx.camera.core.ImageAnalysis
import androidx.camera.core.Preview
import androidx.camera.lifecycle.ProcessCameraProvider
import androidx.camera.view.PreviewView
import androidx.core.content.ContextCompat
import dev.edgekit.demo.core.Classification
import dev.edgekit.demo.core.LinearHead
import dev.edgekit.demo.core.Prediction
import dev.edgekit.demo.core.Preprocess
import dev.edgekit.demo.core.RgbImage
import java.util.concurrent.ExecutorService
import java.util.concurrent.Executors

/**
 * Camera preview + per-frame classification (top-3 with scores, inference latency), a settings
 * dialog (threads, delegate) and Teach mode. All model work runs on one background thread.
 */
class MainActivity : ComponentActivity() {
    private lateinit var preview: PreviewView
    private lateinit var modelInfo: TextView
    private lateinit var results: TextView
    private lateinit var latency: TextView
    private lateinit var teachPanel: View
    private lateinit var teachStatus: TextView
    private lateinit var className: EditText

    private val worker: ExecutorService = Executors.newSingleThreadExecutor()
    private var assets: ModelAssets? = null
    private var classifier: InferenceEngine? = null
    private var backbone: InferenceEngine? = null
    private var head: LinearHead? = null
    private lateinit var store: HeadStore
    private val teacher = Teacher()
    @Volatile private var teaching = false
    @Volatile private var training = false
    @Volatile private var lastFrame: RgbImage? = null
    private val latencies = ArrayDeque<Double>()

    private val askCamera = registerForActivityResult(ActivityResultContracts.RequestPermission()) { granted ->
        if (granted) startCamera() else results.text = getString(R.string.camera_needed)
    }

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        setContentView(R.layout.activity_main)
        preview = findViewById(R.id.preview)
        modelInfo = findViewById(R.id.model_info)
        results = findViewById(R.id.results)
        latency = findViewById(R.id.latency)
        teachPanel = findViewById(R.id.teach_panel)
        teachStatus = findViewById(R.id.teach_status)
        className = findViewById(R.id.class_name)
        findViewById<Button>(R.id.settings).setOnClickListener { showSettings() }
        findViewById<Button>(R.id.mode).setOnClickListener { toggleTeach(it as Button) }
        findViewById<Button>(R.id.add_photo).setOnClickListener { addPhoto() }
        findViewById<Button>(R.id.train).setOnClickListener { train() }
        findViewById<Button>(R.id.forget).setOnClickListener { forget() }

        worker.execute { loadModels() }
        if (ContextCompat.checkSelfPermission(this, AndroidManifest.permission.CAMERA) == PackageManager.PERMISSION_GRANTED) {
            startCamera()
        } else {
            askCamera.launch(AndroidManifest.permission.CAMERA)
        }
    }

    private fun settings(): RuntimeSettings {
        val prefs = getSharedPreferences("settings", MODE_PRIVATE)
        return RuntimeSettings(prefs.getInt("threads", 4), prefs.getString("delegate", RuntimeFlavor.delegates[0]) ?: RuntimeFlavor.delegates[0])
    }

    /** (Re)load the programs with the current settings; on the worker thread. */
    private fun loadModels() {
        try {
            classifier?.close(); backbone?.close()
            classifier = null; backbone = null
            val a = ModelAssets.load(this)
            assets = a
            store = HeadStore(this, a.key)
            val s = settings()
            classifier = RuntimeFlavor.classifier(a.model, s)
            a.backbone?.let { backbone = RuntimeFlavor.backbone(it, s) }
            head = store.load()
            val m = a.manifest
            val info = "${m.modelName} ${m.precision} · ${classifier!!.description}" +
                (if (head != null) " · taught: ${head!!.labels.joinToString()}" else "") +
                (if (m.trainableHead == null) " · no trainable head (export with --trainable-head for Teach)" else "")
            runOnUiThread { modelInfo.text = info }
        } catch (e: Exception) {
            runOnUiThread { results.text = e.message ?: e.toString() }
        }
    }

    private fun startCamera() {
        val future = ProcessCameraProvider.getInstance(this)
        future.addListener({
            val provider = future.get()
            val previewUse = Preview.Builder().build().also { it.setSurfaceProvider(preview.surfaceProvider) }
            val analysis = ImageAnalysis.Builder()
                .setBackpressureStrategy(ImageAnalysis.STRATEGY_KEEP_ONLY_LATEST)
                .setOutputImageFormat(ImageAnalysis.OUTPUT_IMAGE_FORMAT_RGBA_8888)
                .build()
            analysis.setAnalyzer(worker) { image ->
                try {
                    val rgb = FrameConverter.toRgb(image)
                    lastFrame = rgb
                    if (!training) classify(rgb)
                } finally {
                    image.close()
                }
            }
            provider.unbindAll()
            provider.bindToLifecycle(this, CameraSelector.DEFAULT_BACK_CAMERA, previewUse, analysis)
        }, ContextCompat.getMainExecutor(this))
    }

    /** One frame: manifest preprocessing -> program -> top-3; the latency shown is the program's run time. */
    private fun classify(rgb: RgbImage) {
        val a = assets ?: return
        val taught = head
        val engine = (if (taught != null) backbone else classifier) ?: return
        // the classifier gets exactly the manifest's input (int8 when quantized); the backbone gets
        // float32 and its runtime quantizes with the backbone's own input parameters if it needs to
        val input = if (taught != null) Preprocess.toFloatInput(rgb, a.manifest) else Preprocess.toInput(rgb, a.manifest)
        val t0 = SystemClock.elapsedRealtimeNanos()
        val out = engine.run(input)
        val ms = (SystemClock.elapsedRealtimeNanos() - t0) / 1e6
        val top: List<Prediction> = if (taught != null) {
            Classification.topK(taught.logits(out), "logits", taught.labels, 3)
        } else {
            Classification.topK(out, a.manifest.output.kind, a.manifest.labels, 3)
        }
        latencies.addLast(ms)
        if (latencies.size > 30) latencies.removeFirst()
        val sorted = latencies.sorted()
        val median = sorted[sorted.size / 2]
        val text = top.joinToString("\n") { String.format("%5.1f%%  %s", it.score * 100, it.label) }
        runOnUiThread {
            results.text = text
            latency.text = String.format("inference %.1f ms (median of last %d: %.1f ms)", ms, sorted.size, median)
        }
    }

    private fun showSettings() {
        val threads = arrayOf(1, 2, 4, 8)
        val s = settings()
        val labels = threads.map { "$it threads" }.toTypedArray() + RuntimeFlavor.delegates.map { "Delegate: $it" }.toTypedArray()
        AlertDialog.Builder(this)
            .setTitle("${RuntimeFlavor.NAME}: now ${s.threads} threads, ${s.delegate}")
            .setItems(labels) { _, which ->
                val prefs = getSharedPreferences("settings", MODE_PRIVATE).edit()
                if (which < threads.size) prefs.putInt("threads", threads[which])
                else prefs.putString("delegate", RuntimeFlavor.delegates[which - threads.size])
                prefs.apply()
                worker.execute { loadModels() }
            }
            .show()
    }

    private fun toggleTeach(button: Button) {
        val spec = assets?.manifest?.trainableHead
        if (!teaching && (spec == null || backbone == null)) {
            Toast.makeText(this, "This artifact has no trainable head: export it with --trainable-head", Toast.LENGTH_LONG).show()
            return
        }
        teaching = !teaching
        teachPanel.visibility = if (teaching) View.VISIBLE else View.GONE
        button.text = getString(if (teaching) R.string.classify else R.string.teach)
        updateTeachStatus()
    }

    private fun updateTeachStatus() {
        val counts = teacher.classNames.joinToString { "$it: ${teacher.count(it)}" }
        teachStatus.text = if (counts.isEmpty()) "Type a class name, point the camera, tap Add photo (5+ per class)" else counts
    }

    private fun addPhoto() {
        val name = className.text.toString().trim()
        val frame = lastFrame
        if (name.isEmpty() || frame == null) return
        worker.execute {
            val a = assets ?: return@execute
            val bb = backbone ?: return@execute
            val embedding = bb.run(Preprocess.toFloatInput(frame, a.manifest))
            teacher.add(name, embedding)
            runOnUiThread { updateTeachStatus() }
        }
    }

    private fun train() {
        val a = assets ?: return
        val spec = a.manifest.trainableHead ?: return
        val file = a.trainStep ?: return
        training = true
        worker.execute {
            try {
                RuntimeFlavor.trainer(file, settings(), spec).use { trainer ->
                    val taught = teacher.train(trainer) { epoch, loss ->
                        runOnUiThread { teachStatus.text = String.format("epoch %d: loss %.4f", epoch, loss) }
                    }
                    store.save(taught)
                    head = taught
                    runOnUiThread { teachStatus.text = "Taught ${taught.labels.joinToString()}; kept across restarts" }
                }
            } catch (e: Exception) {
                runOnUiThread { teachStatus.text = "Training failed: ${e.message}" }
            } finally {
                training = false
            }
        }
    }

    private fun forget() {
        worker.execute {
            if (::store.isInitialized) store.clear()
            head = null
            teacher.clear()
            runOnUiThread { updateTeachStatus() }
        }
    }

    override fun onDestroy() {
        super.onDestroy()
        worker.execute {
            classifier?.close()
            backbone?.close()
        }
        worker.shutdown()
    }
}
