// A small Java program for W^X emulation: HotSpot maps its code cache W+X; under
// microkernel-jit it runs with the pages flipped. Run with the source launcher: java Hello.java
public class Hello {
    public static void main(String[] args) {
        long s = 0;
        for (int i = 0; i < 50_000_000; i++) s = (s + i * 7L) % 1000003;
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < 1000; i++) b.append(Integer.toString(i, 16));
        System.out.println("hello " + s + " " + b.length());
    }
}
