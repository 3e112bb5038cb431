import org.jetbrains.kotlin.gradle.dsl.JvmTarget

plugins {
    alias(libs.plugins.android.application)
    alias(libs.plugins.kotlin.android)
}

android {
    namespace = "dev.edgekit.demo"
    compileSdk = 35

    defaultConfig {
        applicationId = "dev.edgekit.demo"
        minSdk = 26 // ExecuTorch's Android library is built for android-26
        targetSdk = 35
        versionCode = 1
        versionName = "0.1.0"
        testInstrumentationRunner = "androidx.test.runner.AndroidJUnitRunner"
    }

    // One flavor per runtime. `edgekit export ... --bundle android_demo` puts a .tflite into
    // src/litert/assets/edgekit/ and a .pte into src/executorch/assets/edgekit/ (edgekit/bundle.py).
    flavorDimensions += "runtime"
    productFlavors {
        create("litert") {
            dimension = "runtime"
            applicationIdSuffix = ".litert"
            buildConfigField("String", "RUNTIME", "\"LiteRT\"")
        }
        create("executorch") {
            dimension = "runtime"
            applicationIdSuffix = ".executorch"
            buildConfigField("String", "RUNTIME", "\"ExecuTorch\"")
        }
    }

    buildFeatures {
        buildConfig = true
    }

    androidResources {
        // models are copied from assets to files/ once; keep them uncompressed in the APK
        noCompress += listOf("tflite", "pte", "bin")
    }

    buildTypes {
        release {
            isMinifyEnabled = false
        }
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }
}

kotlin {
    compilerOptions {
        jvmTarget.set(JvmTarget.JVM_17)
    }
}

dependencies {
    implementation(project(":core"))
    implementation(libs.activity.ktx)
    implementation(libs.lifecycle.runtime)
    implementation(libs.camera.core)
    implementation(libs.camera.camera2)
    implementation(libs.camera.lifecycle)
    implementation(libs.camera.view)

    "litertImplementation"(libs.litert)
    "litertImplementation"(libs.litert.gpu)
    "litertImplementation"(libs.litert.gpu.api)

    val localAar = providers.gradleProperty("executorchAar").orNull
    if (localAar != null) {
        "executorchImplementation"(files(localAar))
    } else {
        "executorchImplementation"(libs.executorch.android)
    }
    "executorchImplementation"(libs.fbjni)
    "executorchImplementation"(libs.soloader)

    androidTestImplementation(libs.androidx.test.ext)
    androidTestImplementation(libs.androidx.test.runner)
    androidTestImplementation(libs.junit)
}
